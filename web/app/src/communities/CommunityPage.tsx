import type { Community } from "@course-community/client";
import { NotFoundError } from "@course-community/client";
import { useEffect } from "preact/hooks";
import { href, type Route } from "../router";
import { useLoad } from "../lib/load";
import { canManage, canModerate, getCommunity, mayRead } from "./api";
import { AccessOrError, NoAccess } from "./NoAccess";
import { Loading, Notice } from "../ui/Notice";
import { PostList } from "../forum/PostList";
import { Thread } from "../forum/Thread";
import { PostEditor } from "../forum/PostEditor";
import { ChatRoom } from "../chat/ChatRoom";
import { ModerationQueue } from "../moderation/Queue";
import { Members } from "../moderation/Members";
import { Settings } from "../moderation/Settings";
import { handleAuth } from "../session";

type CommunityRoute = Extract<Route, { name: "community" }>;

function Tabs({ c, tab }: { c: Community; tab: CommunityRoute["tab"] }) {
  const items: [string, string, boolean][] = [
    ["forum", "Forum", tab === "forum" || tab === "post" || tab === "new"],
    ["chat", "Chat", tab === "chat"],
  ];
  if (canModerate(c)) items.push(["moderation", "Moderation", tab === "moderation"]);
  items.push(["members", "Members", tab === "members"]);
  if (canManage(c)) items.push(["settings", "Settings", tab === "settings"]);
  return (
    <nav aria-label="Community sections">
      <ul class="tabs">
        {items.map(([t, label, current]) => (
          <li>
            <a href={href("c", c.id, t)} aria-current={current ? "page" : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function CommunityPage({ route }: { route: CommunityRoute }) {
  const community = useLoad(() => getCommunity(route.id), [route.id]);
  useEffect(() => handleAuth(community.error), [community.error]);
  const c = community.data;
  let body;
  if (!c) {
    if (community.error instanceof NotFoundError)
      body = <Notice kind="warn">This community does not exist, or it is private and you are not in it.</Notice>;
    else if (community.error) body = <AccessOrError error={community.error} retry={community.reload} />;
    else body = <Loading what="Loading the community" />;
  } else if (!mayRead(c)) {
    body = <NoAccess community={c} onJoined={community.reload} />;
  } else {
    const props = { community: c, refresh: community.reload };
    switch (route.tab) {
      case "post":
        body = <Thread {...props} postId={route.postId ?? ""} />;
        break;
      case "new":
        body = <PostEditor {...props} />;
        break;
      case "chat":
        body = <ChatRoom {...props} />;
        break;
      case "moderation":
        body = canModerate(c) ? <ModerationQueue {...props} /> : <NoStaff />;
        break;
      case "members":
        body = <Members {...props} />;
        break;
      case "settings":
        body = canManage(c) ? <Settings {...props} /> : <NoStaff />;
        break;
      default:
        body = <PostList {...props} query={route.query} />;
    }
  }
  return (
    <main id="main" tabIndex={-1}>
      {c && (
        <header style="margin-bottom:0.5rem">
          <h1>{c.title}</h1>
          {c.require_post_approval && (
            <p class="muted small">New posts of members are checked by a moderator before others see them.</p>
          )}
        </header>
      )}
      {c && mayRead(c) && <Tabs c={c} tab={route.tab} />}
      {body}
    </main>
  );
}

function NoStaff() {
  return <Notice kind="warn">This section is for the community's moderators and instructors.</Notice>;
}

