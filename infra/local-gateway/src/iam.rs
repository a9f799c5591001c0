//! IAM on the Management API: each function signs its calls with credentials of its own, and a
//! call is allowed only if the function's policies in the template grant
//! `execute-api:ManageConnections` on the connection's ARN, as its execution role would on AWS.
//! Signatures are not verified (the caller is known by the access key id it signs with).

use std::collections::HashMap;

use axum::http::HeaderMap;

use crate::events::ACCOUNT_ID;
use crate::template::{FunctionSpec, PolicyStatement, Template, substitute};

/// The access key id a function's processes get (`AWS_ACCESS_KEY_ID`).
pub fn access_key_id(function: &str) -> String {
    format!("LOCAL{function}")
}

/// The action every Management API call needs.
pub const MANAGE_CONNECTIONS: &str = "execute-api:ManageConnections";

/// Who may call the Management API.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// By access key id: the function's logical id and its statements with their variables
    /// substituted (`None`: the function names a `Role` the template does not show, so anything
    /// goes).
    by_key: HashMap<String, (String, Option<Vec<PolicyStatement>>)>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Not signed at all (no `Authorization` header with a SigV4 credential).
    Unsigned,
    /// A function whose policies do not allow it; the message AWS would answer.
    Denied(String),
}

impl Policies {
    /// Resolves every function's statements for this gateway's API id, stage and region.
    pub fn new(template: &Template, ws_api_id: &str, region: &str) -> Self {
        let vars = |name: &str| -> Option<String> {
            match name {
                "AWS::Partition" => Some("aws".into()),
                "AWS::Region" => Some(region.into()),
                "AWS::AccountId" => Some(ACCOUNT_ID.into()),
                "AWS::StackName" => Some("local".into()),
                _ if template.websocket_api_logical_id.as_deref() == Some(name) => {
                    Some(ws_api_id.into())
                }
                _ => template.ref_value(name),
            }
        };
        let resolve = |f: &FunctionSpec| -> Option<Vec<PolicyStatement>> {
            (!f.has_role).then(|| {
                f.policy_statements
                    .iter()
                    .map(|st| PolicyStatement {
                        effect: st.effect.clone(),
                        actions: st.actions.clone(),
                        resources: st.resources.iter().map(|r| substitute(r, vars)).collect(),
                    })
                    .collect()
            })
        };
        Policies {
            by_key: template
                .functions
                .iter()
                .map(|(id, f)| (access_key_id(id), (id.clone(), resolve(f))))
                .collect(),
        }
    }

    /// Checks a call on `resource` (`arn:aws:execute-api:…/{stage}/{METHOD}/@connections/{id}`).
    /// Callers that are not one of the template's functions (tests, scripts with credentials of
    /// their own) are allowed; unsigned calls are not.
    pub fn check(&self, headers: &HeaderMap, resource: &str) -> Decision {
        let Some(key) = signing_key(headers) else {
            return Decision::Unsigned;
        };
        let Some((function, statements)) = self.by_key.get(&key) else {
            return Decision::Allowed;
        };
        let Some(statements) = statements else {
            return Decision::Allowed;
        };
        if allows(statements, MANAGE_CONNECTIONS, resource) {
            Decision::Allowed
        } else {
            Decision::Denied(format!(
                "User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function}Role/{function} is not \
                 authorized to perform: {MANAGE_CONNECTIONS} on resource: {resource}"
            ))
        }
    }
}

/// The access key id of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`).
pub fn signing_key(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
    let cred = rest
        .split(',')
        .find_map(|p| p.trim().strip_prefix("Credential="))?;
    let key = cred.split('/').next()?;
    (!key.is_empty()).then(|| key.to_string())
}

/// IAM evaluation for one action and resource: an explicit `Deny` wins, then any `Allow`.
pub fn allows(statements: &[PolicyStatement], action: &str, resource: &str) -> bool {
    let matches = |st: &PolicyStatement| {
        st.actions.iter().any(|a| glob(a, action, true))
            && st.resources.iter().any(|r| glob(r, resource, false))
    };
    let effect = |st: &PolicyStatement, e: &str| st.effect.eq_ignore_ascii_case(e);
    !statements
        .iter()
        .any(|st| effect(st, "Deny") && matches(st))
        && statements
            .iter()
            .any(|st| effect(st, "Allow") && matches(st))
}

/// IAM wildcard matching: `*` any run of characters, `?` any one.
pub fn glob(pattern: &str, s: &str, ignore_case: bool) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_ascii_lowercase().chars().collect(),
            s.to_ascii_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), s.chars().collect())
    };
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(effect: &str, action: &str, resource: &str) -> PolicyStatement {
        PolicyStatement {
            effect: effect.into(),
            actions: vec![action.into()],
            resources: vec![resource.into()],
        }
    }

    #[test]
    fn evaluates_like_iam() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/dev/POST/@connections/x=";
        let post = st(
            "Allow",
            "execute-api:ManageConnections",
            "arn:aws:execute-api:us-east-1:123456789012:abc/dev/POST/@connections/*",
        );
        assert!(allows(std::slice::from_ref(&post), MANAGE_CONNECTIONS, arn));
        // Another method, stage or API is not covered.
        assert!(!allows(
            std::slice::from_ref(&post),
            MANAGE_CONNECTIONS,
            &arn.replace("/POST/", "/GET/")
        ));
        assert!(!allows(
            std::slice::from_ref(&post),
            MANAGE_CONNECTIONS,
            &arn.replace("/dev/", "/prod/")
        ));
        assert!(!allows(&[], MANAGE_CONNECTIONS, arn));
        assert!(allows(
            &[st("Allow", "execute-api:*", "*")],
            MANAGE_CONNECTIONS,
            arn
        ));
        assert!(!allows(
            &[
                st("Allow", "*", "*"),
                st("Deny", "execute-api:Manage*", "*")
            ],
            MANAGE_CONNECTIONS,
            arn
        ));
        assert!(!allows(
            &[st("Allow", "execute-api:Invoke", "*")],
            MANAGE_CONNECTIONS,
            arn
        ));
        assert!(glob("a?c*", "abcdef", false));
        assert!(!glob("a?c", "abcd", false));
    }

    #[test]
    fn reads_the_signing_key() {
        let mut h = HeaderMap::new();
        assert_eq!(signing_key(&h), None);
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=LOCALFn/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(signing_key(&h).as_deref(), Some("LOCALFn"));
        h.insert("authorization", "Bearer x".parse().unwrap());
        assert_eq!(signing_key(&h), None);
    }
}
