import type { Community } from "@course-community/client";
import { href } from "../router";
import { useLoad } from "../lib/load";
import { myCommunities } from "./api";
import { Empty, ErrorNotice, Loading, Notice } from "../ui/Notice";
import { me } from "../session";
import { plural } from "../lib/format";

function CommunityCard({ c }: { c: Community }) {
  return (
    <li class="card community-card">
      <h3>
        <a href={href("c", c.id)}>{c.title}</a>
      </h3>
      {c.description && <p class="muted small">{c.description}</p>}
      <p class="meta">
        {c.my_role && <span class="tag role">{c.my_role}</span>}
        <span>{plural(c.member_count, "member")}</span>
        <span>{plural(c.post_count, "post")}</span>
        {c.visibility === "private" && <span>private</span>}
      </p>
    </li>
  );
}

export function MyCommunities() {
  const list = useLoad(myCommunities, []);
  return (
    <main id="main" tabIndex={-1}>
      <h1>My communities</h1>
      <ErrorNotice error={list.error} retry={list.reload} />
      {list.loading && !list.data && <Loading what="Loading your communities" />}
      {list.data && (
        <>
          {list.data.mine.length === 0 ? (
            <Notice kind="info">
              <p>
                <strong>You have no community open to you right now.</strong>
              </p>
              <p>
                {me.value?.role === "student"
                  ? "A course's community opens to you while your enrollment in it is active. If your enrollment has ended, access returns when it is renewed."
                  : "Communities appear here once you are a member or an instructor of their course."}
              </p>
            </Notice>
          ) : (
            <ul class="list communities" aria-label="My communities">
              {list.data.mine.map((c) => (
                <CommunityCard c={c} />
              ))}
            </ul>
          )}
          {list.data.others.length > 0 && (
            <section aria-labelledby="others-h">
              <h2 id="others-h" style="margin-top:1.5rem">
                Other public communities
              </h2>
              <ul class="list communities">
                {list.data.others.map((c) => (
                  <CommunityCard c={c} />
                ))}
              </ul>
            </section>
          )}
          {list.data.mine.length === 0 && list.data.others.length === 0 && <Empty>No public communities yet.</Empty>}
        </>
      )}
    </main>
  );
}
