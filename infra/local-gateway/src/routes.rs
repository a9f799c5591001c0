//! HTTP API route matching with API Gateway's priority rules.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::template::HttpRouteSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Seg {
    fn rank(&self) -> u8 {
        match self {
            Seg::Literal(_) => 0,
            Seg::Param(_) => 1,
            Seg::Greedy(_) => 2,
        }
    }
}

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    /// `ANY /path/{proxy+}` or `$default`.
    pub route_key: String,
    pub method: String,
    pub function: String,
    /// `None` for `$default`.
    segs: Option<Vec<Seg>>,
}

/// A successful match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub route_key: &'a str,
    pub function: &'a str,
    pub path_parameters: HashMap<String, String>,
}

/// All routes, sorted most specific first.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// Segments of a route path; a trailing slash is a last, empty segment (matched literally).
fn parse_segs(path: &str) -> Vec<Seg> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return vec![];
    }
    trimmed
        .split('/')
        .map(|s| {
            if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                match name.strip_suffix('+') {
                    Some(g) => Seg::Greedy(g.to_string()),
                    None => Seg::Param(name.to_string()),
                }
            } else {
                Seg::Literal(s.to_string())
            }
        })
        .collect()
}

fn specificity(a: &Route, b: &Route) -> Ordering {
    match (&a.segs, &b.segs) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            for (sx, sy) in x.iter().zip(y) {
                match sx.rank().cmp(&sy.rank()) {
                    Ordering::Equal => {}
                    o => return o,
                }
            }
            // Longer paths are more specific; an explicit method beats ANY.
            y.len()
                .cmp(&x.len())
                .then_with(|| (a.method == "ANY").cmp(&(b.method == "ANY")))
        }
    }
}

impl Router {
    /// Compiles route specs.
    pub fn new(specs: &[HttpRouteSpec]) -> Self {
        let mut routes: Vec<Route> = specs
            .iter()
            .map(|s| Route {
                route_key: match &s.path {
                    Some(p) => format!("{} {}", s.method, p),
                    None => "$default".to_string(),
                },
                method: s.method.clone(),
                function: s.function.clone(),
                segs: s.path.as_deref().map(parse_segs),
            })
            .collect();
        routes.sort_by(specificity);
        Router { routes }
    }

    /// Routes, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a method and a raw (still percent-encoded) path, below the stage.
    /// Paths match literally, as HTTP APIs match them: `/a/` is not `/a` (a trailing slash is
    /// an empty last segment, which no `{param}` and no `{proxy+}` matches on its own).
    pub fn find(&self, method: &str, raw_path: &str) -> Option<RouteMatch<'_>> {
        let trimmed = raw_path.strip_prefix('/').unwrap_or(raw_path);
        let parts: Vec<&str> = if trimmed.is_empty() {
            vec![]
        } else {
            trimmed.split('/').collect()
        };
        for r in &self.routes {
            if r.method != "ANY" && !r.method.eq_ignore_ascii_case(method) {
                continue;
            }
            let Some(segs) = &r.segs else {
                return Some(RouteMatch {
                    route_key: &r.route_key,
                    function: &r.function,
                    path_parameters: HashMap::new(),
                });
            };
            if let Some(params) = match_segs(segs, &parts) {
                return Some(RouteMatch {
                    route_key: &r.route_key,
                    function: &r.function,
                    path_parameters: params,
                });
            }
        }
        None
    }
}

fn match_segs(segs: &[Seg], parts: &[&str]) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Literal(l) => {
                if parts.get(i)? != l {
                    return None;
                }
            }
            Seg::Param(name) => {
                let p = parts.get(i)?;
                if p.is_empty() {
                    return None;
                }
                params.insert(name.clone(), crate::util::percent_decode(p));
            }
            Seg::Greedy(name) => {
                let rest = parts.get(i..)?.join("/");
                if rest.is_empty() {
                    return None;
                }
                params.insert(name.clone(), crate::util::percent_decode(&rest));
                return Some(params);
            }
        }
    }
    (parts.len() == segs.len()).then_some(params)
}
