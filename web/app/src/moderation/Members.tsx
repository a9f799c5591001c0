import { useState } from "preact/hooks";
import type { CommunityRole, Member } from "@course-community/client";
import { useLoad } from "../lib/load";
import { members, removeMember, setRole } from "./api";
import { AccessOrError } from "../communities/NoAccess";
import { ErrorNotice, Loading, Notice } from "../ui/Notice";
import type { CommunityProps } from "../communities/props";
import { canManage } from "../communities/api";
import { me } from "../session";
import { when } from "../lib/format";

/** Everyone in the community; the course's instructors and admins change roles and remove members. */
export function Members({ community }: CommunityProps) {
  const list = useLoad(() => members(community.id), [community.id]);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const manage = canManage(community);
  const admin = me.value?.role === "admin";
  const roles: CommunityRole[] = admin ? ["member", "moderator", "instructor"] : ["member", "moderator"];

  async function change(m: Member, role: CommunityRole) {
    setError(null);
    setDone(null);
    try {
      const updated = await setRole(community.id, m.user_id, role);
      list.set((l) => l?.map((x) => (x.user_id === m.user_id ? { ...x, ...updated } : x)));
      setDone(`${m.name} is now ${role === "moderator" ? "a moderator" : `a ${role}`}.`);
    } catch (e) {
      setError(e);
      list.reload();
    }
  }
  async function remove(m: Member) {
    setError(null);
    setDone(null);
    try {
      await removeMember(community.id, m.user_id);
      list.set((l) => l?.filter((x) => x.user_id !== m.user_id));
      setDone(`${m.name} was removed from the community.`);
    } catch (e) {
      setError(e);
    }
  }

  return (
    <section aria-labelledby="members-h">
      <h2 id="members-h">Members</h2>
      {done && <Notice kind="ok">{done}</Notice>}
      <ErrorNotice error={error} />
      {list.error ? <AccessOrError error={list.error} retry={list.reload} community={community} /> : null}
      {list.loading && !list.data && <Loading what="Loading members" />}
      {list.data && (
        <div class="card" style="overflow-x:auto">
          <table>
            <caption class="sr-only">Members of {community.title}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col" class="hide-phone">Joined</th>
                {manage && <th scope="col"><span class="sr-only">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.data.map((m) => {
                const locked = community.instructor_ids.includes(m.user_id);
                return (
                  <tr data-member={m.user_id}>
                    <td>
                      {m.name}
                      {m.username && <span class="muted small"> @{m.username}</span>}
                    </td>
                    <td class="role-cell">
                      {manage && !locked ? (
                        <>
                          <label class="sr-only" for={`role-${m.user_id}`}>
                            Role of {m.name}
                          </label>
                          <select id={`role-${m.user_id}`} value={m.role} onChange={(e) => change(m, e.currentTarget.value as CommunityRole)}>
                            {roles.map((r) => (
                              <option value={r}>{r}</option>
                            ))}
                          </select>
                        </>
                      ) : (
                        <span class="tag role">{locked ? "course instructor" : m.role}</span>
                      )}
                    </td>
                    <td class="hide-phone muted small">{when(m.joined_at)}</td>
                    {manage && (
                      <td>
                        {!locked && m.user_id !== me.value?.id && (
                          <button type="button" class="small danger" onClick={() => remove(m)} aria-label={`Remove ${m.name}`}>
                            Remove
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
