import type { Community } from "@course-community/client";

/** What every screen of a community gets: the community and a way to reload it. */
export interface CommunityProps {
  community: Community;
  refresh: () => void;
}
