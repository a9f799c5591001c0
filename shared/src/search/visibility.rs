//! The one filter every search result passes: a document surfaces only to a reader who could
//! read it directly, judged on the live record (not on what the index remembers of it).

use crate::access::{Access, Action};
use crate::chat::Message;
use crate::posts::Post;

/// A document found by the index, as stored now.
#[derive(Debug, Clone)]
pub enum Found {
    /// A post or reply, with the root of its thread when it is a reply (whose audience the
    /// reply inherits), if that root was read.
    Post {
        post: Box<Post>,
        root: Option<Box<Post>>,
    },
    Message(Box<Message>),
}

/// Whether `reader` may see `found` in search results.
///
/// - no read access to the community (never a member, removed, enrollment ended): nothing;
/// - deleted posts and messages: never;
/// - pending and rejected posts, and staff-only threads (`audience: "staff"`, which replies
///   inherit): their author and the community's moderators ([`Post::visible_to`], the rule of
///   every other read);
/// - anonymous posts: [`author_shown`] (results carry no author today).
pub fn readable(found: &Found, reader: &Access) -> bool {
    if !reader.can(Action::Read) {
        return false;
    }
    match found {
        Found::Post { post, root } => {
            !post.is_deleted
                && post.community_id == reader.community.id
                && post.visible_to(reader)
                && root.as_deref().is_none_or(|r| r.visible_to(reader))
        }
        Found::Message(m) => !m.is_deleted && m.community_id == reader.community.id,
    }
}

/// The anonymous rule (`anonymous: true`: students other than the author see no author).
/// Search results show no author, and authors' names are not indexed, so an anonymous post
/// is found by its words only, like any other; this is where a result that one day shows its
/// author asks whether it may.
pub fn author_shown(_post: &Post, _reader: &Access) -> bool {
    false
}
