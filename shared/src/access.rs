//! The one access guard: "may user U do action A in community C?".
//!
//! Every path that touches a community's objects loads an [`Access`] (one BatchGetItem: the
//! community, the caller's membership and enrollment) and asks it; a path that decides for many
//! users at once (the receive-side check of fan-out, the notifier) loads one [`Roster`]. Actions
//! outside any community (the LMS sync, creating a community) are [`PlatformAction`]s. The
//! decision itself is the pure function [`decide`], tested as a matrix.

use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::model::grant::{Basis, ReadGrant};
use crate::model::{Community, CommunityRole, Enrollment, Member, Visibility};
use crate::store::{Db, communities as store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What a caller may try to do outside any community.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformAction {
    /// Push users, courses and enrollments (the LMS sync).
    SyncLms,
    /// Create a community not tied to a course.
    CreateCommunity,
}

/// Admins only, for every platform action.
pub fn require_platform(principal: &Principal, action: PlatformAction) -> Result<()> {
    if principal.is_admin() {
        return Ok(());
    }
    Err(Error::Forbidden(
        match action {
            PlatformAction::SyncLms => "LMS sync requires an admin token",
            PlatformAction::CreateCommunity => "only admins may create communities",
        }
        .into(),
    ))
}

/// What a caller may try to do in a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See that the community exists and read its profile.
    View,
    /// Become a member.
    Join,
    /// Read posts, chat history, members, who is online; receive chat events.
    Read,
    /// Create posts and replies, react, flag.
    Post,
    /// Send chat messages.
    Chat,
    /// Approve, reject, pin, delete others' content, see flags and moderator notes.
    Moderate,
    /// Change the community's settings.
    Update,
    /// Change members' roles or remove members.
    ManageMembers,
    /// Make a member an instructor of the community (a role the LMS sets for course instructors).
    AssignInstructor,
    /// Create an announcement (a root post that notifies every member).
    Announce,
    /// Endorse a post or reply, close a question as a duplicate, accept an answer to someone
    /// else's question.
    Endorse,
    /// Replace the community's tags.
    ManageTags,
    /// Archive or unarchive the community.
    Archive,
    /// Read the moderation audit log.
    ReadAudit,
}

impl Action {
    /// Actions that change content: refused in an archived community (except for admins).
    /// `Moderate` is also the right to read moderation state; its writes ask
    /// [`Access::require_write`] too.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::Post | Action::Chat | Action::Announce | Action::Endorse | Action::ManageTags
        )
    }
}

/// The facts a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub principal: &'a Principal,
    pub community: &'a Community,
    pub membership: Option<&'a Member>,
    pub enrollment: Option<&'a Enrollment>,
    pub now: DateTime<Utc>,
}

/// The outcome of a decision; `Hidden` answers 404 so that existence does not leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Forbidden,
    Hidden,
    /// Allowed, but the community is archived (409 `archived`).
    Archived,
}

impl<'a> Facts<'a> {
    fn is_course_instructor(&self) -> bool {
        self.community
            .instructor_ids
            .iter()
            .any(|i| i == &self.principal.user_id)
    }

    /// An active enrollment whose expiry (if any) is still ahead.
    pub fn enrolled(&self) -> bool {
        self.enrollment.is_some_and(|e| e.is_current(self.now))
    }

    /// Whether the caller needs an enrollment to belong here (students in course communities).
    fn needs_enrollment(&self) -> bool {
        self.principal.role == Role::Student && self.community.course_id.is_some()
    }

    /// The caller's role as it counts now: a student member whose enrollment expired or was
    /// removed has none, whatever the membership item says.
    pub fn effective_role(&self) -> Option<CommunityRole> {
        if self.is_course_instructor() {
            return Some(CommunityRole::Instructor);
        }
        let m = self.membership?;
        if self.needs_enrollment() && !self.enrolled() {
            return None;
        }
        Some(m.role)
    }

    fn can_see(&self) -> bool {
        self.principal.is_admin()
            || self.community.visibility == Visibility::Public
            || self.effective_role().is_some()
            || (self.needs_enrollment() && self.enrolled())
    }

    fn can_join(&self) -> bool {
        match self.principal.role {
            Role::Admin | Role::Instructor => true,
            Role::Student if self.community.course_id.is_some() => self.enrolled(),
            Role::Student => self.community.visibility == Visibility::Public,
        }
    }
}

impl Facts<'_> {
    /// How long [`Action::Read`] stays allowed if only the clock moves, and the facts it rests
    /// on; `None` if it is not allowed now. The end is the enrollment's expiry for a student of
    /// a course community, none for everyone else (their access ends only when a fact changes).
    pub fn read_grant(&self) -> Option<ReadGrant> {
        if decide(self, Action::Read) != Decision::Allow {
            return None;
        }
        if self.principal.is_admin() {
            return Some(ReadGrant {
                until: None,
                rests_on: Vec::new(),
            });
        }
        if self.is_course_instructor() {
            return Some(ReadGrant {
                until: None,
                rests_on: vec![Basis::CourseInstructor],
            });
        }
        let mut rests_on = vec![Basis::Membership];
        let mut until = None;
        if self.needs_enrollment() {
            let e = self.enrollment?;
            rests_on.push(Basis::Enrollment {
                updated_at: e.updated_at.clone(),
            });
            until = match &e.expiry_date {
                None => None,
                Some(d) => Some(DateTime::parse_from_rfc3339(d).ok()?.with_timezone(&Utc)),
            };
        }
        Some(ReadGrant { until, rests_on })
    }
}

/// The access matrix of the product, in one function.
pub fn decide(f: &Facts<'_>, action: Action) -> Decision {
    if !f.can_see() {
        return Decision::Hidden;
    }
    let admin = f.principal.is_admin();
    let role = f.effective_role();
    let allowed = match action {
        Action::View => true,
        Action::Join => f.can_join(),
        Action::Read | Action::Post | Action::Chat => admin || role.is_some(),
        Action::Moderate | Action::Announce | Action::Endorse => {
            admin || role.is_some_and(|r| r >= CommunityRole::Moderator)
        }
        Action::Update
        | Action::ManageMembers
        | Action::ManageTags
        | Action::Archive
        | Action::ReadAudit => admin || role.is_some_and(|r| r >= CommunityRole::Instructor),
        Action::AssignInstructor => admin,
    };
    if !allowed {
        Decision::Forbidden
    } else if action.writes() && f.community.is_archived && !admin {
        Decision::Archived
    } else {
        Decision::Allow
    }
}

/// The decision for a write that is not an action of its own (editing or deleting one's own
/// post or message, a moderator's decision): `action` is the right it needs, and an archived
/// community refuses it for everyone but admins.
pub fn decide_write(f: &Facts<'_>, action: Action) -> Decision {
    match decide(f, action) {
        Decision::Allow if f.community.is_archived && !f.principal.is_admin() => Decision::Archived,
        other => other,
    }
}

/// A loaded access context for one caller in one community.
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: Principal,
    pub community: Community,
    pub membership: Option<Member>,
    pub enrollment: Option<Enrollment>,
    pub now: DateTime<Utc>,
    /// Only the guard builds an `Access`: every one of them was read, not made up.
    _loaded: Loaded,
}

#[derive(Debug, Clone)]
struct Loaded;

impl Access {
    /// Reads community, membership and enrollment in one BatchGetItem; 404 if the community does
    /// not exist or the caller may not see it.
    pub async fn load(
        db: &Db,
        principal: &Principal,
        community_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let access = Self::load_many(db, principal, &[community_id.to_string()], now)
            .await?
            .pop()
            .ok_or(Error::NotFound("community"))?;
        access.require(Action::View)?;
        Ok(access)
    }

    /// The access of one caller to many communities, three keys per community, in as few
    /// BatchGetItem calls as the 100-key limit allows. Missing communities are left out.
    pub async fn load_many(
        db: &Db,
        principal: &Principal,
        community_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<Self>> {
        Ok(store::facts_of_user(db, &principal.user_id, community_ids)
            .await?
            .into_iter()
            .map(|(community, membership, enrollment)| Self {
                principal: principal.clone(),
                community,
                membership,
                enrollment,
                now,
                _loaded: Loaded,
            })
            .collect())
    }

    /// The same access after the community changed (a settings update).
    pub fn with_community(&self, community: Community) -> Self {
        Self {
            community,
            ..self.clone()
        }
    }

    pub fn facts(&self) -> Facts<'_> {
        Facts {
            principal: &self.principal,
            community: &self.community,
            membership: self.membership.as_ref(),
            enrollment: self.enrollment.as_ref(),
            now: self.now,
        }
    }

    pub fn can(&self, action: Action) -> bool {
        decide(&self.facts(), action) == Decision::Allow
    }

    /// 404 if the caller may not see the community, 403 if they may see it but not do this.
    pub fn require(&self, action: Action) -> Result<()> {
        self.answer(action, decide(&self.facts(), action))
    }

    /// [`Access::require`] for a write that needs `action`'s right: also 409 `archived` in an
    /// archived community (admins excepted).
    pub fn require_write(&self, action: Action) -> Result<()> {
        self.answer(action, decide_write(&self.facts(), action))
    }

    /// Moderators, instructors and admins here: they see real authors and staff-only posts and
    /// are exempt from the posting and chat limits.
    pub fn is_staff(&self) -> bool {
        self.can(Action::Moderate)
    }

    fn answer(&self, action: Action, decision: Decision) -> Result<()> {
        match decision {
            Decision::Allow => Ok(()),
            Decision::Archived => Err(Error::Archived),
            Decision::Hidden => Err(Error::NotFound("community")),
            Decision::Forbidden => Err(Error::Forbidden(
                match action {
                    Action::Join => "you need an active enrollment in this course to join",
                    Action::Read | Action::Post | Action::Chat => {
                        "you are not a member of this community (or your enrollment has ended)"
                    }
                    Action::Moderate | Action::Endorse => {
                        "only moderators, instructors and admins may do this"
                    }
                    Action::Announce => {
                        "only moderators, instructors and admins may post announcements"
                    }
                    Action::Update
                    | Action::ManageMembers
                    | Action::ManageTags
                    | Action::Archive
                    | Action::ReadAudit => {
                        "only the community's instructors and admins may do this"
                    }
                    Action::AssignInstructor => "only admins may make a member an instructor",
                    Action::View => "you may not see this community",
                }
                .into(),
            )),
        }
    }

    pub fn effective_role(&self) -> Option<CommunityRole> {
        self.facts().effective_role()
    }

    /// See [`Facts::read_grant`].
    pub fn read_grant(&self) -> Option<ReadGrant> {
        self.facts().read_grant()
    }

    pub fn is_moderator(&self) -> bool {
        self.can(Action::Moderate)
    }
}

/// The facts the access rule needs about many users of one community, read at once: the one
/// loader behind every decision made for users who are not the caller (the receive-side check of
/// fan-out, the notifier).
#[derive(Debug, Clone)]
pub struct Roster {
    community: Community,
    members: HashMap<String, Member>,
    enrollments: HashMap<String, Enrollment>,
    /// Platform roles known to the caller (from connections or watch rows); anyone else is judged
    /// as a student, the strictest.
    roles: HashMap<String, Role>,
    now: DateTime<Utc>,
}

impl Roster {
    /// The whole community partition (community, memberships, enrollments): a few Query pages
    /// even for thousands of members. `None` if the community does not exist.
    pub async fn whole(
        db: &Db,
        community_id: &str,
        consistent: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Self>> {
        Ok(store::partition(db, community_id, consistent).await?.map(
            |(community, (members, enrollments))| Self {
                community,
                members,
                enrollments,
                roles: HashMap::new(),
                now,
            },
        ))
    }

    /// Only the given users of a known community (BatchGetItems of their membership and
    /// enrollment).
    pub async fn of(
        db: &Db,
        community: Community,
        users: &[String],
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let (members, enrollments) = store::facts_of_users(db, &community.id, users).await?;
        Ok(Self {
            community,
            members,
            enrollments,
            roles: HashMap::new(),
            now,
        })
    }

    /// Whichever read is cheaper for these users: up to [`store::USERS_PER_BATCH`], one
    /// BatchGetItem; beyond, the whole partition, whose cost is the roster's size in 4 KB units
    /// rather than one read per item.
    pub async fn for_users(
        db: &Db,
        community: &Community,
        users: &[String],
        now: DateTime<Utc>,
    ) -> Result<Self> {
        if users.len() <= store::USERS_PER_BATCH {
            return Self::of(db, community.clone(), users, now).await;
        }
        Ok(Self::whole(db, &community.id, true, now)
            .await?
            .unwrap_or_else(|| Self {
                community: community.clone(),
                members: HashMap::new(),
                enrollments: HashMap::new(),
                roles: HashMap::new(),
                now,
            }))
    }

    /// Adds what is known of users' platform roles.
    pub fn with_roles(mut self, roles: impl IntoIterator<Item = (String, Role)>) -> Self {
        self.roles.extend(roles);
        self
    }

    pub fn community(&self) -> &Community {
        &self.community
    }

    /// The one access rule, applied to a user who is not the caller.
    pub fn allows(&self, user_id: &str, action: Action) -> bool {
        let principal = Principal {
            user_id: user_id.to_string(),
            role: self.roles.get(user_id).copied().unwrap_or(Role::Student),
            name: String::new(),
            username: None,
        };
        let facts = Facts {
            principal: &principal,
            community: &self.community,
            membership: self.members.get(user_id),
            enrollment: self.enrollments.get(user_id),
            now: self.now,
        };
        decide(&facts, action) == Decision::Allow
    }

    /// Every member and course instructor (the audience of an announcement).
    pub fn everyone(&self) -> Vec<String> {
        let mut out: Vec<String> = self.community.instructor_ids.clone();
        out.extend(self.members.keys().cloned());
        out.sort();
        out.dedup();
        out
    }

    /// The course's instructors and the members holding moderator or instructor.
    pub fn moderators(&self) -> Vec<String> {
        let mut out: Vec<String> = self.community.instructor_ids.clone();
        out.extend(
            self.members
                .values()
                .filter(|m| m.role >= CommunityRole::Moderator)
                .map(|m| m.user_id.clone()),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn principal(role: Role) -> Principal {
        Principal {
            user_id: "u1".into(),
            role,
            name: "U".into(),
            username: None,
        }
    }

    fn community(visibility: Visibility, course: bool, instructors: &[&str]) -> Community {
        Community {
            id: "c1".into(),
            title: "C".into(),
            description: String::new(),
            visibility,
            banner_image: None,
            require_post_approval: false,
            course_id: course.then(|| "course1".into()),
            instructor_ids: instructors.iter().map(|s| s.to_string()).collect(),
            member_count: 0,
            post_count: 0,
            created_at: String::new(),
            updated_at: String::new(),
            ..Default::default()
        }
    }

    fn member(role: CommunityRole) -> Member {
        Member {
            community_id: "c1".into(),
            user_id: "u1".into(),
            name: "U".into(),
            username: None,
            role,
            joined_at: String::new(),
        }
    }

    fn enrollment(active: bool, expiry: Option<DateTime<Utc>>) -> Enrollment {
        Enrollment {
            course_id: "course1".into(),
            community_id: "c1".into(),
            user_id: "u1".into(),
            is_active: active,
            expiry_date: expiry.map(crate::clock::iso),
            updated_at: String::new(),
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Enr {
        None,
        Active,
        Expired,
        Inactive,
    }

    fn check(
        role: Role,
        vis: Visibility,
        membership: Option<CommunityRole>,
        enr: Enr,
        action: Action,
    ) -> Decision {
        let now = Utc::now();
        let p = principal(role);
        let c = community(vis, true, &[]);
        let m = membership.map(member);
        let e = match enr {
            Enr::None => None,
            Enr::Active => Some(enrollment(true, Some(now + Duration::days(1)))),
            Enr::Expired => Some(enrollment(true, Some(now - Duration::seconds(1)))),
            Enr::Inactive => Some(enrollment(false, None)),
        };
        decide(
            &Facts {
                principal: &p,
                community: &c,
                membership: m.as_ref(),
                enrollment: e.as_ref(),
                now,
            },
            action,
        )
    }

    use Decision::*;

    #[test]
    fn student_member_with_current_enrollment_reads_posts_and_chats_but_does_not_moderate() {
        for action in [Action::View, Action::Read, Action::Post, Action::Chat] {
            assert_eq!(
                check(
                    Role::Student,
                    Visibility::Public,
                    Some(CommunityRole::Member),
                    Enr::Active,
                    action
                ),
                Allow,
                "{action:?}"
            );
        }
        for action in [Action::Moderate, Action::Update, Action::ManageMembers] {
            assert_eq!(
                check(
                    Role::Student,
                    Visibility::Public,
                    Some(CommunityRole::Member),
                    Enr::Active,
                    action
                ),
                Forbidden,
                "{action:?}"
            );
        }
    }

    #[test]
    fn when_enrollment_expires_or_is_removed_a_member_loses_access_at_once() {
        for enr in [Enr::Expired, Enr::Inactive, Enr::None] {
            for role in [CommunityRole::Member, CommunityRole::Moderator] {
                assert_eq!(
                    check(
                        Role::Student,
                        Visibility::Public,
                        Some(role),
                        enr,
                        Action::Post
                    ),
                    Forbidden
                );
                assert_eq!(
                    check(
                        Role::Student,
                        Visibility::Public,
                        Some(role),
                        enr,
                        Action::Read
                    ),
                    Forbidden
                );
                assert_eq!(
                    check(
                        Role::Student,
                        Visibility::Private,
                        Some(role),
                        enr,
                        Action::Read
                    ),
                    Hidden
                );
                assert_eq!(
                    check(
                        Role::Student,
                        Visibility::Public,
                        Some(role),
                        enr,
                        Action::Join
                    ),
                    Forbidden
                );
            }
        }
    }

    #[test]
    fn a_read_grant_lasts_exactly_as_long_as_the_rule_allows_reading_when_only_the_clock_moves() {
        let now = Utc::now();
        let ends = now + Duration::days(3);
        let enrollments = [
            None,
            Some(enrollment(true, None)),
            Some(enrollment(true, Some(ends))),
            Some(enrollment(true, Some(now - Duration::seconds(1)))),
            Some(enrollment(false, Some(ends))),
        ];
        let memberships = [
            None,
            Some(CommunityRole::Member),
            Some(CommunityRole::Moderator),
            Some(CommunityRole::Instructor),
        ];
        let mut granted = 0;
        for role in [Role::Student, Role::Instructor, Role::Admin] {
            for vis in [Visibility::Public, Visibility::Private] {
                for course in [false, true] {
                    for instructors in [&[][..], &["u1"][..]] {
                        for m in memberships {
                            for e in &enrollments {
                                let p = principal(role);
                                let c = community(vis, course, instructors);
                                let m = m.map(member);
                                let at = |t| Facts {
                                    principal: &p,
                                    community: &c,
                                    membership: m.as_ref(),
                                    enrollment: e.as_ref(),
                                    now: t,
                                };
                                let grant = at(now).read_grant();
                                let case = format!(
                                    "{role:?} {vis:?} course={course} {instructors:?} {m:?} {e:?}"
                                );
                                for t in [
                                    now,
                                    now + Duration::hours(1),
                                    ends - Duration::milliseconds(1),
                                    ends,
                                    ends + Duration::days(1),
                                    now + Duration::days(1000),
                                ] {
                                    let reads = decide(&at(t), Action::Read) == Allow;
                                    let granted_at_t = grant
                                        .as_ref()
                                        .is_some_and(|g| g.until.is_none_or(|u| t < u));
                                    assert_eq!(reads, granted_at_t, "{case} at {t}");
                                }
                                if let Some(g) = &grant {
                                    granted += 1;
                                    // What the grant rests on is what the rule read.
                                    assert_eq!(
                                        g.rests_on.is_empty(),
                                        role == Role::Admin,
                                        "{case}"
                                    );
                                    assert_eq!(
                                        g.rests_on.contains(&Basis::CourseInstructor),
                                        role != Role::Admin && !instructors.is_empty(),
                                        "{case}"
                                    );
                                    assert_eq!(
                                        g.rests_on
                                            .iter()
                                            .any(|b| matches!(b, Basis::Enrollment { .. })),
                                        g.until.is_some() || (e.is_some() && g.rests_on.len() == 2),
                                        "{case}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            granted > 50,
            "the matrix covers granted cases too: {granted}"
        );
    }

    #[test]
    fn private_communities_are_hidden_from_students_without_enrollment() {
        assert_eq!(
            check(
                Role::Student,
                Visibility::Private,
                None,
                Enr::None,
                Action::View
            ),
            Hidden
        );
        assert_eq!(
            check(
                Role::Student,
                Visibility::Private,
                None,
                Enr::Active,
                Action::View
            ),
            Allow
        );
        assert_eq!(
            check(
                Role::Student,
                Visibility::Private,
                None,
                Enr::Active,
                Action::Join
            ),
            Allow
        );
        assert_eq!(
            check(
                Role::Student,
                Visibility::Private,
                None,
                Enr::Active,
                Action::Read
            ),
            Forbidden
        );
    }

    #[test]
    fn moderators_moderate_but_do_not_manage_members() {
        let d = |a| {
            check(
                Role::Student,
                Visibility::Public,
                Some(CommunityRole::Moderator),
                Enr::Active,
                a,
            )
        };
        assert_eq!(d(Action::Moderate), Allow);
        assert_eq!(d(Action::ManageMembers), Forbidden);
        assert_eq!(d(Action::Update), Forbidden);
    }

    #[test]
    fn instructors_need_no_enrollment_and_admins_can_do_everything() {
        assert_eq!(
            check(
                Role::Instructor,
                Visibility::Public,
                None,
                Enr::None,
                Action::Join
            ),
            Allow
        );
        assert_eq!(
            check(
                Role::Instructor,
                Visibility::Public,
                None,
                Enr::None,
                Action::Post
            ),
            Forbidden
        );
        assert_eq!(
            check(
                Role::Instructor,
                Visibility::Public,
                Some(CommunityRole::Instructor),
                Enr::None,
                Action::ManageMembers
            ),
            Allow
        );
        for action in [
            Action::View,
            Action::Join,
            Action::Read,
            Action::Post,
            Action::Moderate,
            Action::Update,
            Action::ManageMembers,
            Action::AssignInstructor,
        ] {
            assert_eq!(
                check(Role::Admin, Visibility::Private, None, Enr::None, action),
                Allow
            );
        }
    }

    #[test]
    fn only_admins_make_instructors_and_act_outside_communities() {
        assert_eq!(
            check(
                Role::Instructor,
                Visibility::Public,
                Some(CommunityRole::Instructor),
                Enr::None,
                Action::AssignInstructor
            ),
            Forbidden
        );
        for action in [PlatformAction::SyncLms, PlatformAction::CreateCommunity] {
            assert!(require_platform(&principal(Role::Admin), action).is_ok());
            for role in [Role::Instructor, Role::Student] {
                assert!(matches!(
                    require_platform(&principal(role), action),
                    Err(Error::Forbidden(_))
                ));
            }
        }
    }

    #[test]
    fn course_instructors_are_instructors_without_a_membership_item() {
        let now = Utc::now();
        let p = Principal {
            role: Role::Instructor,
            ..principal(Role::Instructor)
        };
        let c = community(Visibility::Private, true, &["u1"]);
        let f = Facts {
            principal: &p,
            community: &c,
            membership: None,
            enrollment: None,
            now,
        };
        assert_eq!(f.effective_role(), Some(CommunityRole::Instructor));
        assert_eq!(decide(&f, Action::ManageMembers), Allow);
    }

    #[test]
    fn students_join_open_public_communities_without_a_course() {
        let now = Utc::now();
        let p = principal(Role::Student);
        let c = community(Visibility::Public, false, &[]);
        let f = Facts {
            principal: &p,
            community: &c,
            membership: None,
            enrollment: None,
            now,
        };
        assert_eq!(decide(&f, Action::Join), Allow);
        let c = community(Visibility::Private, false, &[]);
        let f = Facts { community: &c, ..f };
        assert_eq!(decide(&f, Action::Join), Hidden);
    }

    #[test]
    fn forum_actions_follow_the_roles_and_an_archive_refuses_writes_but_to_admins() {
        let roles = [
            (Role::Student, Some(CommunityRole::Member)),
            (Role::Student, Some(CommunityRole::Moderator)),
            (Role::Instructor, Some(CommunityRole::Instructor)),
            (Role::Admin, None),
        ];
        // (action, allowed for member, moderator, instructor, admin)
        let rows = [
            (Action::Announce, [false, true, true, true]),
            (Action::Endorse, [false, true, true, true]),
            (Action::ManageTags, [false, false, true, true]),
            (Action::Archive, [false, false, true, true]),
            (Action::ReadAudit, [false, false, true, true]),
            (Action::Post, [true, true, true, true]),
            (Action::Chat, [true, true, true, true]),
        ];
        let now = Utc::now();
        for archived in [false, true] {
            for (action, allowed) in rows {
                for ((role, membership), allowed) in roles.iter().zip(allowed) {
                    let p = principal(*role);
                    let mut c = community(Visibility::Public, true, &[]);
                    c.is_archived = archived;
                    let m = membership.map(member);
                    let e = enrollment(true, None);
                    let f = Facts {
                        principal: &p,
                        community: &c,
                        membership: m.as_ref(),
                        enrollment: Some(&e),
                        now,
                    };
                    let expected = match (allowed, archived && action.writes(), *role) {
                        (false, _, _) => Forbidden,
                        (true, true, Role::Admin) | (true, false, _) => Allow,
                        (true, true, _) => Archived,
                    };
                    assert_eq!(
                        decide(&f, action),
                        expected,
                        "{action:?} {role:?} {archived}"
                    );
                    let write = match decide_write(&f, Action::Read) {
                        d if archived && *role != Role::Admin => d == Archived,
                        d => d == Allow,
                    };
                    assert!(write, "editing one's own post, {role:?} {archived}");
                }
            }
        }
    }
}
