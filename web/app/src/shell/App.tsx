import { me, signOut, token } from "../session";
import { route } from "../router";
import "../realtime";
import { SignIn } from "../signin/SignIn";
import { MyCommunities } from "../communities/MyCommunities";
import { CommunityPage } from "../communities/CommunityPage";
import { NotificationsPage } from "../notifications/NotificationsPage";
import { NotificationSettings } from "../settings/NotificationSettings";
import { Unsubscribe } from "../settings/Unsubscribe";
import { Bell } from "../notifications/Bell";
import { ConnectionStatus } from "./ConnectionStatus";

function TopBar() {
  const user = me.value;
  return (
    <header class="topbar">
      <a class="brand" href="#/">
        Course Community
      </a>
      <span class="grow" />
      {user && (
        <>
          <ConnectionStatus />
          <Bell />
          <a class="small" href="#/settings/notifications" aria-label="Notification settings" title="Notification settings">
            Settings
          </a>
          <span class="me" title={`${user.name} (${user.role})`}>
            {user.name}
          </span>
          <button type="button" class="small" onClick={() => signOut()}>
            Sign out
          </button>
        </>
      )}
    </header>
  );
}

export function App() {
  const r = route.value;
  const signedIn = Boolean(token.value && me.value);
  let screen;
  // An email's unsubscribe link works signed out.
  if (r.name === "unsubscribe") screen = <Unsubscribe token={r.token} signedIn={signedIn} />;
  else if (!signedIn || r.name === "signin") screen = <SignIn />;
  else if (r.name === "community") screen = <CommunityPage route={r} key={r.id} />;
  else if (r.name === "notifications") screen = <NotificationsPage />;
  else if (r.name === "settings-notifications") screen = <NotificationSettings />;
  else screen = <MyCommunities />;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <TopBar />
      {screen}
    </>
  );
}
