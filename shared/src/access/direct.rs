//! Who may write to whom in direct messages: the guard's rule for conversations, asked on
//! every write (creating a conversation, sending, editing, typing), so that losing the last
//! shared community ends the right to write at once.
//!
//! A sender may write to a recipient when no block stands between them (either way) and they
//! share a community where both have current access (the one rule of [`decide`]: a student
//! whose enrollment ended or who was removed has none) and where either of them is a moderator
//! or instructor, or the community allows student-to-student messages (`student_dms`). Platform
//! admins may write to anyone who has not blocked them. The decision is the pure function
//! [`decide_direct`], tested as a matrix; [`Reach::load`] reads its facts.

use super::{Access, Facts};
use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::model::CommunityRole;
use crate::store::{Db, blocks, communities as store};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use std::collections::{HashMap, HashSet};

/// What the rule needs about one community the sender and a recipient share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedCommunity {
    pub student_dms: bool,
    /// The sender's role there as it counts now (`None`: no current access).
    pub sender: Option<CommunityRole>,
    /// The recipient's.
    pub recipient: Option<CommunityRole>,
}

/// The outcome for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectDecision {
    Allow,
    /// One of the two blocked the other.
    Blocked,
    /// They share a community, but only as students, and its `student_dms` is off.
    StudentDmsOff,
    /// No community where both have current access.
    NoSharedCommunity,
}

/// The rule, in one function.
pub fn decide_direct(
    sender_is_admin: bool,
    blocked: bool,
    shared: &[SharedCommunity],
) -> DirectDecision {
    if blocked {
        return DirectDecision::Blocked;
    }
    if sender_is_admin {
        return DirectDecision::Allow;
    }
    let both: Vec<&SharedCommunity> = shared
        .iter()
        .filter(|c| c.sender.is_some() && c.recipient.is_some())
        .collect();
    let staff = |r: Option<CommunityRole>| r.is_some_and(|r| r >= CommunityRole::Moderator);
    if both
        .iter()
        .any(|c| c.student_dms || staff(c.sender) || staff(c.recipient))
    {
        DirectDecision::Allow
    } else if both.is_empty() {
        DirectDecision::NoSharedCommunity
    } else {
        DirectDecision::StudentDmsOff
    }
}

/// The decisions for one sender and some recipients, with the names the recipients' memberships
/// carry (a new conversation shows them).
#[derive(Debug, Clone)]
pub struct Reach {
    decisions: Vec<(String, DirectDecision)>,
    names: HashMap<String, String>,
}

impl Reach {
    /// Reads the facts: the communities of the sender and of each recipient (one GSI Query each,
    /// concurrently) and the blocks both ways (one BatchGetItem); then, for the communities they
    /// share, the sender's access (one BatchGetItem per 33 communities) and the recipients'
    /// memberships and enrollments (one BatchGetItem per 50 pairs), strongly consistent. A
    /// recipient is judged as a student unless they are one of the course's instructors: the
    /// strictest reading of a user whose platform role is not known here.
    pub async fn load(
        db: &Db,
        sender: &Principal,
        recipients: &[String],
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let mut users = vec![sender.user_id.clone()];
        users.extend(recipients.iter().cloned());
        let (communities, blocked) = futures::try_join!(
            try_join_all(users.iter().map(|u| store::community_ids_of(db, u))),
            blocks::between(db, &sender.user_id, recipients),
        )?;
        let mine: HashSet<&String> = communities[0].iter().collect();
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut shared_ids: HashSet<String> = HashSet::new();
        for (recipient, theirs) in recipients.iter().zip(&communities[1..]) {
            for c in theirs.iter().filter(|c| mine.contains(c)) {
                pairs.push((c.clone(), recipient.clone()));
                shared_ids.insert(c.clone());
            }
        }
        let shared_ids: Vec<String> = shared_ids.into_iter().collect();
        let (access, facts) = futures::try_join!(
            Access::load_many(db, sender, &shared_ids, now),
            store::facts_of_pairs(db, &pairs),
        )?;
        let access: HashMap<&str, &Access> = access
            .iter()
            .map(|a| (a.community.id.as_str(), a))
            .collect();
        let mut names = HashMap::new();
        let decisions = recipients
            .iter()
            .map(|recipient| {
                let shared: Vec<SharedCommunity> = pairs
                    .iter()
                    .filter(|(_, u)| u == recipient)
                    .filter_map(|(c, _)| {
                        let a = access.get(c.as_str())?;
                        let (member, enrollment) = facts.get(&(c.clone(), recipient.clone()))?;
                        let principal = Principal {
                            user_id: recipient.clone(),
                            role: Role::Student,
                            name: String::new(),
                            username: None,
                        };
                        let them = Facts {
                            principal: &principal,
                            community: &a.community,
                            membership: member.as_ref(),
                            enrollment: enrollment.as_ref(),
                            now,
                        };
                        let role = them.effective_role();
                        if role.is_some()
                            && let Some(m) = member
                        {
                            names.entry(recipient.clone()).or_insert(m.name.clone());
                        }
                        Some(SharedCommunity {
                            student_dms: a.community.student_dms,
                            sender: a.effective_role(),
                            recipient: role,
                        })
                    })
                    .collect();
                let decision =
                    decide_direct(sender.is_admin(), blocked.contains(recipient), &shared);
                (recipient.clone(), decision)
            })
            .collect();
        Ok(Self { decisions, names })
    }

    pub fn decision(&self, recipient: &str) -> Option<DirectDecision> {
        self.decisions
            .iter()
            .find(|(u, _)| u == recipient)
            .map(|(_, d)| *d)
    }

    /// 403 unless the sender may write to every recipient; the detail names the first one
    /// refused and why.
    pub fn require_all(&self) -> Result<()> {
        for (user, decision) in &self.decisions {
            let why = match decision {
                DirectDecision::Allow => continue,
                DirectDecision::Blocked => "one of you blocked the other",
                DirectDecision::StudentDmsOff => {
                    "your shared communities do not allow direct messages between students"
                }
                DirectDecision::NoSharedCommunity => "you share no community",
            };
            return Err(Error::Forbidden(format!(
                "you may not write to {user}: {why}"
            )));
        }
        Ok(())
    }

    /// The name of a recipient as a community they share with the sender shows it.
    pub fn name(&self, recipient: &str) -> Option<&str> {
        self.names.get(recipient).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommunityRole::*;
    use DirectDecision::*;

    fn shared(
        student_dms: bool,
        sender: Option<CommunityRole>,
        recipient: Option<CommunityRole>,
    ) -> SharedCommunity {
        SharedCommunity {
            student_dms,
            sender,
            recipient,
        }
    }

    #[test]
    fn the_direct_message_matrix() {
        // (admin sender, blocked, shared communities) -> decision
        let rows: Vec<(bool, bool, Vec<SharedCommunity>, DirectDecision)> = vec![
            // Two students of a community with student DMs on (the default).
            (
                false,
                false,
                vec![shared(true, Some(Member), Some(Member))],
                Allow,
            ),
            // Student DMs off: students may not, but staff on either side always may.
            (
                false,
                false,
                vec![shared(false, Some(Member), Some(Member))],
                StudentDmsOff,
            ),
            (
                false,
                false,
                vec![shared(false, Some(Member), Some(Moderator))],
                Allow,
            ),
            (
                false,
                false,
                vec![shared(false, Some(Member), Some(Instructor))],
                Allow,
            ),
            (
                false,
                false,
                vec![shared(false, Some(Instructor), Some(Member))],
                Allow,
            ),
            (
                false,
                false,
                vec![shared(false, Some(Moderator), Some(Member))],
                Allow,
            ),
            // One community allowing it is enough.
            (
                false,
                false,
                vec![
                    shared(false, Some(Member), Some(Member)),
                    shared(true, Some(Member), Some(Member)),
                ],
                Allow,
            ),
            // Losing access (enrollment ended, removed) on either side: not shared any more.
            (
                false,
                false,
                vec![shared(true, None, Some(Member))],
                NoSharedCommunity,
            ),
            (
                false,
                false,
                vec![shared(true, Some(Member), None)],
                NoSharedCommunity,
            ),
            (
                false,
                false,
                vec![shared(false, None, Some(Instructor))],
                NoSharedCommunity,
            ),
            (false, false, vec![], NoSharedCommunity),
            // A block ends everything, staff and admins included.
            (
                false,
                true,
                vec![shared(true, Some(Member), Some(Member))],
                Blocked,
            ),
            (
                false,
                true,
                vec![shared(true, Some(Member), Some(Instructor))],
                Blocked,
            ),
            (true, true, vec![], Blocked),
            // Admins reach anyone who has not blocked them.
            (true, false, vec![], Allow),
        ];
        for (admin, blocked, communities, expected) in rows {
            assert_eq!(
                decide_direct(admin, blocked, &communities),
                expected,
                "admin={admin} blocked={blocked} {communities:?}"
            );
        }
    }
}
