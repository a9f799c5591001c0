//! Reads the SAM/CloudFormation template: functions, HTTP routes, WebSocket routes, CORS, the
//! table, buckets, topics and the functions' event sources (streams, schedules, topics).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use crate::error::Error;

/// Everything the gateway needs from `template.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// Functions by logical id.
    pub functions: BTreeMap<String, FunctionSpec>,
    /// HTTP API routes, in template order (matching order is decided by [`crate::routes`]).
    pub http_routes: Vec<HttpRouteSpec>,
    /// WebSocket API (the first `AWS::ApiGatewayV2::Api` with `ProtocolType: WEBSOCKET`).
    pub websocket: WsApiSpec,
    /// CORS configuration of the HTTP API, if any.
    pub cors: Option<CorsConfig>,
    /// The first `AWS::DynamoDB::Table`.
    pub table: Option<TableSpec>,
    /// Parameter defaults (parameters without a default are absent).
    pub parameter_defaults: BTreeMap<String, String>,
    /// Parameter values the template is read with: the defaults, then the overrides given to
    /// [`Template::load_with`] (as `sam deploy --parameter-overrides` does).
    pub parameters: BTreeMap<String, String>,
    /// Parameters whose type is a list (`CommaDelimitedList`, `List<...>`).
    pub list_parameters: Vec<String>,
    /// The template's `Conditions`, evaluated with the parameters (`!Equals`, `!Not`, `!And`,
    /// `!Or`, `!Condition`; a condition it cannot evaluate is false).
    pub conditions: BTreeMap<String, bool>,
    /// Stage of the HTTP API (`StageName` of the `AWS::Serverless::HttpApi`; `$default` without one).
    pub http_stage: String,
    /// Logical id of the WebSocket API (for the ARNs in policies).
    pub websocket_api_logical_id: Option<String>,
    /// `Type: DynamoDB` event sources of functions (stream -> function), in template order.
    pub stream_sources: Vec<StreamSourceSpec>,
    /// Logical ids of the `AWS::S3::Bucket`s: locally a `!Ref` to one is its
    /// [`local_bucket_name`], and the gateway creates them in the AWS emulator at start.
    pub buckets: Vec<String>,
    /// Logical ids of the `AWS::SNS::Topic`s: locally a `!Ref` to one is its [`local_topic_arn`],
    /// and the gateway creates them in the AWS emulator at start.
    pub topics: Vec<String>,
    /// The identities (`EmailIdentity`: a domain or an address) of the `AWS::SES::EmailIdentity`s:
    /// the gateway creates them in the AWS emulator at start, so that mail from them is sent.
    pub email_identities: Vec<String>,
    /// `Type: Schedule` and `Type: ScheduleV2` events of functions, in template order.
    pub schedules: Vec<ScheduleSpec>,
    /// `Type: SNS` events of functions (topic -> function), in template order.
    pub sns_sources: Vec<SnsSourceSpec>,
    /// The region the template is read for (topic ARNs name it).
    pub region: String,
}

/// The region a template is read for unless told otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The name a template topic has locally (CloudFormation would generate one).
pub fn local_topic_name(logical_id: &str) -> String {
    format!("local-{}", logical_id.to_lowercase())
}

/// The ARN of a template topic locally (what `!Ref` to it gives, and what the AWS emulator
/// answers to CreateTopic of its [`local_topic_name`]).
pub fn local_topic_arn(region: &str, logical_id: &str) -> String {
    format!(
        "arn:aws:sns:{region}:{}:{}",
        crate::events::ACCOUNT_ID,
        local_topic_name(logical_id)
    )
}

/// One `Type: Schedule` (EventBridge rule) or `Type: ScheduleV2` (EventBridge Scheduler) event.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// Function logical id.
    pub function: String,
    /// Event name in the template.
    pub name: String,
    /// `Schedule` or `ScheduleV2`.
    pub kind: String,
    /// `Schedule` (of `Schedule`) or `ScheduleExpression` (of `ScheduleV2`), as written.
    pub expression: String,
    /// The expression, parsed.
    pub schedule: crate::schedules::Expression,
    /// `Input`: the JSON the function gets instead of the Scheduled Event.
    pub input: Option<String>,
    /// False with `Enabled: false` or `State: DISABLED`.
    pub enabled: bool,
}

/// One `Type: SNS` event of a function: a subscription of the function to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsSourceSpec {
    /// Function logical id.
    pub function: String,
    /// Event name in the template.
    pub name: String,
    /// The topic's ARN (of a template topic: its [`local_topic_arn`]).
    pub topic_arn: String,
}

/// The name a template bucket has locally (CloudFormation would generate one).
pub fn local_bucket_name(logical_id: &str) -> String {
    format!("local-{}", logical_id.to_lowercase())
}

/// One `Type: DynamoDB` event of a function: Lambda's event source mapping on a table stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSourceSpec {
    /// Function logical id.
    pub function: String,
    /// Event name in the template.
    pub name: String,
    /// `LATEST` or `TRIM_HORIZON`.
    pub starting_position: String,
    /// Most records per invocation (Lambda's default for DynamoDB: 100).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window: Duration,
    /// `FilterCriteria.Filters[].Pattern`, parsed; a record is delivered if any matches (or if
    /// there are none).
    pub filters: Vec<serde_json::Value>,
    /// `FunctionResponseTypes` has `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `MaximumRetryAttempts` (`-1` or absent: retry until the record expires; locally capped).
    pub maximum_retry_attempts: Option<i64>,
}

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary` (falls back to the logical id).
    pub binary: String,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Environment variables with their template value when it is knowable locally
    /// (a literal or a `!Ref` to a parameter with a default); `None` otherwise.
    pub environment: BTreeMap<String, Option<String>>,
    /// `LoggingConfig.LogFormat`.
    pub log_format: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel`.
    pub log_level: Option<String>,
    /// Inline policy statements (`Policies: [{Statement: ...}]`), as written.
    pub policy_statements: Vec<PolicyStatement>,
    /// The other entries of `Policies`: SAM policy templates (by name, e.g. `DynamoDBCrudPolicy`)
    /// and managed policies (by name or ARN), whose actions this parser does not expand.
    pub policy_templates: Vec<String>,
    /// The function names an execution `Role` of its own: its permissions are not in the template.
    pub has_role: bool,
    /// `ReservedConcurrentExecutions`: most instances at once (the gateway's own limit applies too).
    pub reserved_concurrency: Option<usize>,
}

/// One IAM policy statement of a function, with its `!Sub` variables still in its resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatement {
    /// `Allow` or `Deny`.
    pub effect: String,
    pub actions: Vec<String>,
    /// Resource ARN patterns; `${Name}` variables are substituted when the gateway starts.
    pub resources: Vec<String>,
}

/// One `HttpApi` event of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRouteSpec {
    /// `ANY` or an upper-case method.
    pub method: String,
    /// `None` for the `$default` route.
    pub path: Option<String>,
    pub function: String,
}

/// WebSocket API routes and settings.
#[derive(Debug, Clone, Default)]
pub struct WsApiSpec {
    /// Route key (`$connect`, `$disconnect`, `$default`, custom) to function logical id.
    pub routes: BTreeMap<String, String>,
    /// e.g. `$request.body.type`.
    pub route_selection_expression: Option<String>,
    /// Stage name (`$default` when the template has no stage).
    pub stage: String,
    /// REQUEST authorizer on `$connect`, if any.
    pub connect_authorizer: Option<AuthorizerSpec>,
}

/// A REQUEST authorizer backed by a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerSpec {
    pub function: String,
    /// e.g. `route.request.querystring.token`.
    pub identity_sources: Vec<String>,
}

/// `CorsConfiguration` of the HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfig {
    pub allow_origins: Vec<String>,
    pub allow_headers: Vec<String>,
    pub allow_methods: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<u64>,
}

/// `AWS::DynamoDB::Table` properties that matter locally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    /// `(name, type)` pairs.
    pub attributes: Vec<(String, String)>,
    /// `(name, HASH|RANGE)` pairs.
    pub key_schema: Vec<(String, String)>,
    pub global_indexes: Vec<IndexSpec>,
    pub local_indexes: Vec<IndexSpec>,
    pub billing_mode: Option<String>,
    /// TTL attribute when `TimeToLiveSpecification.Enabled` is true.
    pub ttl_attribute: Option<String>,
    /// `StreamSpecification.StreamViewType`, when the table has a stream.
    pub stream_view_type: Option<String>,
}

/// A secondary index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::load_with(path, &BTreeMap::new())
    }

    /// Reads and parses a template file with parameter overrides (`Name -> value`).
    pub fn load_with(path: &Path, overrides: &BTreeMap<String, String>) -> Result<Self, Error> {
        Self::load_in(path, overrides, DEFAULT_REGION)
    }

    /// Reads and parses a template file with parameter overrides, for a region.
    pub fn load_in(
        path: &Path,
        overrides: &BTreeMap<String, String>,
        region: &str,
    ) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Self::parse_in(&text, overrides, region)
    }

    /// Parses template text.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_with(text, &BTreeMap::new())
    }

    /// Parses template text with parameter overrides (`Name -> value`); an override of a
    /// parameter the template does not declare is an error, as it is for CloudFormation.
    pub fn parse_with(text: &str, overrides: &BTreeMap<String, String>) -> Result<Self, Error> {
        Self::parse_in(text, overrides, DEFAULT_REGION)
    }

    /// Parses template text with parameter overrides, for a region.
    pub fn parse_in(
        text: &str,
        overrides: &BTreeMap<String, String>,
        region: &str,
    ) -> Result<Self, Error> {
        let root: Value =
            serde_yaml_ng::from_str(text).map_err(|e| Error::Template(e.to_string()))?;
        let resources = get(&root, "Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| Error::Template("no Resources".into()))?;

        let mut t = Template {
            region: region.to_string(),
            ..Default::default()
        };
        let mut declared = Vec::new();
        if let Some(params) = get(&root, "Parameters").and_then(Value::as_mapping) {
            for (k, v) in params {
                let Some(name) = k.as_str() else { continue };
                declared.push(name.to_string());
                let ty = get(v, "Type").and_then(scalar).unwrap_or_default();
                if ty == "CommaDelimitedList" || ty.starts_with("List<") {
                    t.list_parameters.push(name.to_string());
                }
                let default = match get(v, "Default") {
                    Some(Value::Sequence(items)) => Some(
                        items
                            .iter()
                            .filter_map(scalar)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    Some(d) => scalar(d),
                    None => None,
                };
                if let Some(d) = default {
                    t.parameter_defaults.insert(name.to_string(), d);
                }
            }
        }
        t.parameters = t.parameter_defaults.clone();
        for (k, v) in overrides {
            if !declared.contains(k) {
                return Err(Error::Template(format!(
                    "parameter override {k}: the template has no such parameter"
                )));
            }
            t.parameters.insert(k.clone(), v.clone());
        }
        t.http_stage = "$default".into();
        if let Some(conditions) = get(&root, "Conditions").and_then(Value::as_mapping) {
            // In order, so that a condition may name one declared before it.
            for (k, v) in conditions {
                let Some(name) = k.as_str() else { continue };
                let value = t.condition(v).unwrap_or(false);
                t.conditions.insert(name.to_string(), value);
            }
        }

        t.buckets = resources
            .iter()
            .filter(|(_, res)| get(res, "Type").and_then(Value::as_str) == Some("AWS::S3::Bucket"))
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect();
        t.topics = resources
            .iter()
            .filter(|(_, res)| get(res, "Type").and_then(Value::as_str) == Some("AWS::SNS::Topic"))
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect();
        t.email_identities = resources
            .iter()
            .filter(|(_, res)| {
                get(res, "Type").and_then(Value::as_str) == Some("AWS::SES::EmailIdentity")
            })
            .filter_map(|(_, res)| {
                let identity = get(res, "Properties").and_then(|p| get(p, "EmailIdentity"))?;
                t.resolve_scalar(identity)
            })
            .collect();
        let globals = get(&root, "Globals").and_then(|g| get(g, "Function"));
        let mut seen_http_api = false;
        for (k, res) in resources {
            let Some(id) = k.as_str() else { continue };
            let props = get(res, "Properties");
            match get(res, "Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => {
                    let f = t.parse_function(id, res, globals)?;
                    for (ev_name, ev) in props
                        .and_then(|p| get(p, "Events"))
                        .and_then(Value::as_mapping)
                        .into_iter()
                        .flatten()
                    {
                        match get(ev, "Type").and_then(Value::as_str) {
                            Some("HttpApi") => {}
                            Some("DynamoDB") => {
                                let name = ev_name.as_str().unwrap_or("?");
                                t.stream_sources.push(parse_stream_source(
                                    id,
                                    name,
                                    get(ev, "Properties"),
                                )?);
                                continue;
                            }
                            Some(kind @ ("Schedule" | "ScheduleV2")) => {
                                let name = ev_name.as_str().unwrap_or("?");
                                let spec =
                                    t.parse_schedule(id, name, kind, get(ev, "Properties"))?;
                                t.schedules.push(spec);
                                continue;
                            }
                            Some("SNS") => {
                                let name = ev_name.as_str().unwrap_or("?");
                                let topic = get(ev, "Properties")
                                    .and_then(|p| get(p, "Topic"))
                                    .and_then(|v| t.resolve_scalar(v))
                                    .ok_or_else(|| {
                                        Error::Template(format!(
                                            "{id}.{name}: Topic must be a topic ARN or a !Ref to a topic of the template"
                                        ))
                                    })?;
                                t.sns_sources.push(SnsSourceSpec {
                                    function: id.to_string(),
                                    name: name.to_string(),
                                    topic_arn: topic,
                                });
                                continue;
                            }
                            _ => continue,
                        }
                        let ep = get(ev, "Properties");
                        let method = ep
                            .and_then(|p| get(p, "Method"))
                            .and_then(scalar)
                            .unwrap_or_else(|| "ANY".into());
                        let path = ep.and_then(|p| get(p, "Path")).and_then(scalar);
                        let method = method.to_ascii_uppercase();
                        let method = if method == "*" {
                            "ANY".to_string()
                        } else {
                            method
                        };
                        if let Some(p) = &path
                            && !p.starts_with('/')
                        {
                            return Err(Error::Template(format!(
                                "{id}.{}: bad path {p}",
                                ev_name.as_str().unwrap_or("?")
                            )));
                        }
                        t.http_routes.push(HttpRouteSpec {
                            method,
                            path,
                            function: id.to_string(),
                        });
                    }
                    t.functions.insert(id.to_string(), f);
                }
                Some("AWS::Serverless::HttpApi") if !seen_http_api => {
                    seen_http_api = true;
                    if let Some(c) = props.and_then(|p| get(p, "CorsConfiguration")) {
                        t.cors = t.parse_cors(c);
                    }
                    if let Some(stage) = props
                        .and_then(|p| get(p, "StageName"))
                        .and_then(|v| t.resolve_scalar(v))
                    {
                        t.http_stage = stage;
                    }
                }
                Some("AWS::DynamoDB::Table") if t.table.is_none() => {
                    t.table = Some(parse_table(id, props));
                }
                _ => {}
            }
        }
        t.parse_websocket(resources)?;
        Ok(t)
    }

    /// A condition expression, if it can be evaluated here.
    fn condition(&self, v: &Value) -> Option<bool> {
        let args = |tag: &str| match tagged(v, tag).or_else(|| get(v, &format!("Fn::{tag}"))) {
            Some(Value::Sequence(items)) => Some(items.as_slice()),
            _ => None,
        };
        if let Some([a, b]) = args("Equals") {
            return Some(self.resolve_scalar(a)? == self.resolve_scalar(b)?);
        }
        if let Some([inner]) = args("Not") {
            return self.condition(inner).map(|c| !c);
        }
        if let Some(items) = args("And") {
            return items.iter().map(|c| self.condition(c)).sum_and();
        }
        if let Some(items) = args("Or") {
            return items.iter().map(|c| self.condition(c)).sum_or();
        }
        let name = tagged(v, "Condition")
            .or_else(|| get(v, "Condition"))
            .and_then(Value::as_str)?;
        self.conditions.get(name).copied()
    }

    /// `!If [condition, then, else]`: the branch the condition picks.
    fn pick<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        match tagged(v, "If").or_else(|| get(v, "Fn::If")) {
            Some(Value::Sequence(items)) => match items.as_slice() {
                [Value::String(cond), then, otherwise] => {
                    Some(if self.conditions.get(cond).copied().unwrap_or(false) {
                        then
                    } else {
                        otherwise
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn resolve_env_value(&self, v: &Value) -> Option<String> {
        self.resolve_scalar(v)
    }

    /// A literal, a `!Ref` to a parameter (its value: default or override), to a bucket (its
    /// local name) or to a topic (its local ARN), or `!GetAtt` of a topic's `TopicArn` or
    /// `TopicName`.
    fn resolve_scalar(&self, v: &Value) -> Option<String> {
        if let Some(branch) = self.pick(v) {
            return self.resolve_scalar(branch);
        }
        if let Some(s) = scalar(v) {
            return Some(s);
        }
        if let Some((resource, attribute)) = get_att(v) {
            if !self.topics.contains(&resource) {
                return None;
            }
            return match attribute.as_str() {
                "TopicArn" => Some(local_topic_arn(&self.region, &resource)),
                "TopicName" => Some(local_topic_name(&resource)),
                _ => None,
            };
        }
        ref_name(v).and_then(|r| self.ref_value(r))
    }

    /// What `!Ref name` (or `${name}` in a `!Sub`) is locally, for parameters, buckets and topics.
    pub fn ref_value(&self, name: &str) -> Option<String> {
        if let Some(p) = self.parameters.get(name) {
            return Some(p.clone());
        }
        if self.buckets.iter().any(|b| b == name) {
            return Some(local_bucket_name(name));
        }
        self.topics
            .iter()
            .any(|t| t == name)
            .then(|| local_topic_arn(&self.region, name))
    }

    /// A list: a sequence of literals or `!Ref`s, a `!Ref` to a list parameter
    /// (`CommaDelimitedList`), or `!Split [delimiter, value]`.
    fn resolve_list(&self, v: &Value) -> Vec<String> {
        if let Some(branch) = self.pick(v) {
            return self.resolve_list(branch);
        }
        if let Value::Sequence(items) = v {
            return items
                .iter()
                .filter_map(|i| self.resolve_scalar(i))
                .collect();
        }
        if let Some(name) = ref_name(v)
            && self.list_parameters.iter().any(|p| p == name)
        {
            return self
                .parameters
                .get(name)
                .map(|s| split_list(s, ","))
                .unwrap_or_default();
        }
        if let Some(Value::Sequence(args)) = tagged(v, "Split").or_else(|| get(v, "Fn::Split"))
            && let [delimiter, source] = args.as_slice()
            && let Some(delimiter) = scalar(delimiter)
        {
            return self
                .resolve_scalar(source)
                .map(|s| split_list(&s, &delimiter))
                .unwrap_or_default();
        }
        self.resolve_scalar(v).into_iter().collect()
    }

    /// `CorsConfiguration` (SAM also takes `true`: every origin).
    fn parse_cors(&self, c: &Value) -> Option<CorsConfig> {
        if let Value::Bool(b) = c {
            return b.then(|| CorsConfig {
                allow_origins: vec!["*".into()],
                ..Default::default()
            });
        }
        let list = |k: &str| get(c, k).map(|v| self.resolve_list(v)).unwrap_or_default();
        Some(CorsConfig {
            allow_origins: list("AllowOrigins"),
            allow_headers: list("AllowHeaders"),
            allow_methods: list("AllowMethods"),
            expose_headers: list("ExposeHeaders"),
            allow_credentials: get(c, "AllowCredentials")
                .and_then(|v| self.resolve_scalar(v))
                .is_some_and(|v| v == "true"),
            max_age: get(c, "MaxAge")
                .and_then(|v| self.resolve_scalar(v))
                .and_then(|s| s.parse().ok()),
        })
    }

    /// One `Type: Schedule` / `Type: ScheduleV2` event; an invalid expression or `Input` is an
    /// error naming the function and the event.
    fn parse_schedule(
        &self,
        function: &str,
        name: &str,
        kind: &str,
        props: Option<&Value>,
    ) -> Result<ScheduleSpec, Error> {
        let p = |k: &str| props.and_then(|p| get(p, k));
        let err = |m: String| Error::Template(format!("{function}.{name}: {m}"));
        let key = if kind == "Schedule" {
            "Schedule"
        } else {
            "ScheduleExpression"
        };
        let expression = p(key)
            .and_then(|v| self.resolve_scalar(v))
            .ok_or_else(|| err(format!("no {key}")))?;
        let schedule = crate::schedules::Expression::parse(&expression)
            .map_err(|e| err(format!("{expression}: {e}")))?;
        if let Some(zone) = p("ScheduleExpressionTimezone").and_then(|v| self.resolve_scalar(v))
            && !matches!(zone.as_str(), "UTC" | "Etc/UTC")
        {
            tracing::warn!(%function, schedule = %name, %zone, "the local gateway runs schedules in UTC, not in their ScheduleExpressionTimezone");
        }
        let input = p("Input").and_then(|v| self.resolve_scalar(v));
        if let Some(i) = &input {
            serde_json::from_str::<serde_json::Value>(i)
                .map_err(|e| err(format!("Input is not JSON: {e}")))?;
        }
        let enabled = p("Enabled")
            .and_then(|v| self.resolve_scalar(v))
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
            && p("State")
                .and_then(|v| self.resolve_scalar(v))
                .is_none_or(|v| !v.eq_ignore_ascii_case("DISABLED"));
        Ok(ScheduleSpec {
            function: function.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            expression,
            schedule,
            input,
            enabled,
        })
    }

    fn parse_function(
        &self,
        id: &str,
        res: &Value,
        globals: Option<&Value>,
    ) -> Result<FunctionSpec, Error> {
        let props = get(res, "Properties");
        let pick = |key: &str| {
            props
                .and_then(|p| get(p, key))
                .or_else(|| globals.and_then(|g| get(g, key)))
        };
        let num = |key: &str, default: u64| -> u64 {
            pick(key)
                .and_then(|v| self.resolve_scalar(v))
                .and_then(|s| s.parse().ok())
                .unwrap_or(default)
        };
        let binary = get(res, "Metadata")
            .and_then(|m| get(m, "BuildProperties"))
            .and_then(|b| get(b, "Binary"))
            .and_then(scalar)
            .unwrap_or_else(|| id.to_string());
        let mut environment = BTreeMap::new();
        for src in [globals, props] {
            let vars = src
                .and_then(|s| get(s, "Environment"))
                .and_then(|e| get(e, "Variables"))
                .and_then(Value::as_mapping);
            for (k, v) in vars.into_iter().flatten() {
                if let Some(k) = k.as_str() {
                    environment.insert(k.to_string(), self.resolve_env_value(v));
                }
            }
        }
        let logging = |key: &str| {
            props
                .and_then(|p| get(p, "LoggingConfig"))
                .and_then(|l| get(l, key))
                .or_else(|| {
                    globals
                        .and_then(|g| get(g, "LoggingConfig"))
                        .and_then(|l| get(l, key))
                })
                .and_then(scalar)
        };
        Ok(FunctionSpec {
            logical_id: id.to_string(),
            binary,
            timeout: Duration::from_secs(num("Timeout", 3)),
            memory_mb: u32::try_from(num("MemorySize", 128)).unwrap_or(128),
            environment,
            log_format: logging("LogFormat"),
            log_level: logging("ApplicationLogLevel"),
            policy_statements: parse_policy_statements(props.and_then(|p| get(p, "Policies"))),
            policy_templates: parse_policy_templates(props.and_then(|p| get(p, "Policies"))),
            has_role: props.and_then(|p| get(p, "Role")).is_some(),
            reserved_concurrency: pick("ReservedConcurrentExecutions")
                .and_then(|v| self.resolve_scalar(v))
                .and_then(|s| s.parse().ok()),
        })
    }

    fn parse_websocket(&mut self, resources: &Mapping) -> Result<(), Error> {
        fn by_type<'a>(
            resources: &'a Mapping,
            ty: &'a str,
        ) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
            resources
                .iter()
                .filter(move |(_, r)| get(r, "Type").and_then(Value::as_str) == Some(ty))
                .filter_map(|(k, r)| Some((k.as_str()?, r)))
        }
        let Some((api_id, api)) = by_type(resources, "AWS::ApiGatewayV2::Api").find(|(_, r)| {
            get(r, "Properties")
                .and_then(|p| get(p, "ProtocolType"))
                .and_then(Value::as_str)
                == Some("WEBSOCKET")
        }) else {
            self.websocket.stage = "$default".into();
            return Ok(());
        };
        self.websocket_api_logical_id = Some(api_id.to_string());
        let stage = by_type(resources, "AWS::ApiGatewayV2::Stage")
            .find(|(_, r)| {
                get(r, "Properties")
                    .and_then(|p| get(p, "ApiId"))
                    .and_then(ref_name)
                    == Some(api_id)
            })
            .and_then(|(_, r)| get(r, "Properties").and_then(|p| get(p, "StageName")))
            .and_then(|v| self.resolve_scalar(v))
            .unwrap_or_else(|| "$default".into());
        let ws = &mut self.websocket;
        ws.stage = stage;
        ws.route_selection_expression = get(api, "Properties")
            .and_then(|p| get(p, "RouteSelectionExpression"))
            .and_then(scalar);
        let belongs = |r: &Value| {
            get(r, "Properties")
                .and_then(|p| get(p, "ApiId"))
                .and_then(ref_name)
                == Some(api_id)
        };

        let function_of_uri = |uri: Option<&Value>| -> Option<String> {
            let uri = uri?;
            if let Some(s) = sub_string(uri) {
                return sub_vars(&s)
                    .into_iter()
                    .find_map(|v| v.strip_suffix(".Arn").map(str::to_string));
            }
            get_att(uri).filter(|(_, a)| a == "Arn").map(|(r, _)| r)
        };
        for (route_id, r) in
            by_type(resources, "AWS::ApiGatewayV2::Route").filter(|(_, r)| belongs(r))
        {
            let p = get(r, "Properties");
            let key = p
                .and_then(|p| get(p, "RouteKey"))
                .and_then(scalar)
                .ok_or_else(|| Error::Template(format!("{route_id}: no RouteKey")))?;
            let target = p.and_then(|p| get(p, "Target"));
            let integration = target.and_then(integration_of_target);
            let Some(integration) = integration else {
                return Err(Error::Template(format!("{route_id}: cannot read Target")));
            };
            let uri = resources
                .get(integration.as_str())
                .and_then(|i| get(i, "Properties"))
                .and_then(|p| get(p, "IntegrationUri"));
            let function = function_of_uri(uri).ok_or_else(|| {
                Error::Template(format!(
                    "{route_id}: integration {integration} has no function"
                ))
            })?;
            if key == "$connect"
                && let Some(auth_id) = p.and_then(|p| get(p, "AuthorizerId")).and_then(ref_name)
            {
                let ap = resources.get(auth_id).and_then(|a| get(a, "Properties"));
                let afn =
                    function_of_uri(ap.and_then(|p| get(p, "AuthorizerUri"))).ok_or_else(|| {
                        Error::Template(format!("{auth_id}: authorizer has no function"))
                    })?;
                let identity_sources = ap
                    .and_then(|p| get(p, "IdentitySource"))
                    .map(|v| match v {
                        Value::Sequence(s) => s.iter().filter_map(scalar).collect(),
                        other => scalar(other)
                            .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
                            .unwrap_or_default(),
                    })
                    .unwrap_or_default();
                ws.connect_authorizer = Some(AuthorizerSpec {
                    function: afn,
                    identity_sources,
                });
            }
            ws.routes.insert(key, function);
        }
        Ok(())
    }
}

fn integration_of_target(target: &Value) -> Option<String> {
    if let Some(s) = sub_string(target) {
        return sub_vars(&s).into_iter().last();
    }
    if let Some(s) = scalar(target) {
        return s.strip_prefix("integrations/").map(str::to_string);
    }
    // !Join ["/", ["integrations", !Ref X]]
    let items = tagged(target, "Join")
        .or_else(|| get(target, "Fn::Join"))?
        .as_sequence()?;
    items
        .get(1)?
        .as_sequence()?
        .iter()
        .find_map(ref_name)
        .map(str::to_string)
}

/// `a, b ,c` -> `[a, b, c]` (empty items dropped).
fn split_list(s: &str, delimiter: &str) -> Vec<String> {
    s.split(delimiter)
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// The inline statements of `Policies` (SAM policy templates and managed policies are skipped:
/// none of them grants `execute-api:ManageConnections`).
fn parse_policy_statements(policies: Option<&Value>) -> Vec<PolicyStatement> {
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Sequence(s)) => s.iter().filter_map(policy_string).collect(),
            Some(v) => policy_string(v).into_iter().collect(),
            None => vec![],
        }
    };
    let items: Vec<&Value> = match policies {
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(v @ Value::Mapping(_)) => vec![v],
        _ => vec![],
    };
    let mut out = Vec::new();
    for item in items {
        let statements: Vec<&Value> = match get(item, "Statement") {
            Some(Value::Sequence(s)) => s.iter().collect(),
            Some(v @ Value::Mapping(_)) => vec![v],
            _ => continue,
        };
        for st in statements {
            out.push(PolicyStatement {
                effect: get(st, "Effect").and_then(scalar).unwrap_or_default(),
                actions: list(get(st, "Action")),
                resources: list(get(st, "Resource")),
            });
        }
    }
    out
}

/// The names of the `Policies` entries that are not inline statements.
fn parse_policy_templates(policies: Option<&Value>) -> Vec<String> {
    let items: Vec<&Value> = match policies {
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(v) => vec![v],
        None => vec![],
    };
    items
        .into_iter()
        .filter(|item| get(item, "Statement").is_none())
        .filter_map(|item| match item {
            Value::Mapping(m) => m.keys().next().and_then(scalar),
            other => policy_string(other).or_else(|| Some(format!("{other:?}"))),
        })
        .collect()
}

/// A literal, the format string of a `!Sub`, or `!Ref X` as `${X}` (substituted as a `!Sub`
/// variable is) in a policy.
fn policy_string(v: &Value) -> Option<String> {
    scalar(v)
        .or_else(|| sub_string(v))
        .or_else(|| ref_name(v).map(|r| format!("${{{r}}}")))
}

fn key_schema(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|k| {
            Some((
                get(k, "AttributeName").and_then(scalar)?,
                get(k, "KeyType").and_then(scalar)?,
            ))
        })
        .collect()
}

fn parse_indexes(v: Option<&Value>) -> Vec<IndexSpec> {
    v.and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|i| {
            let proj = get(i, "Projection");
            IndexSpec {
                name: get(i, "IndexName").and_then(scalar).unwrap_or_default(),
                key_schema: key_schema(get(i, "KeySchema")),
                projection_type: proj
                    .and_then(|p| get(p, "ProjectionType"))
                    .and_then(scalar)
                    .unwrap_or_else(|| "ALL".into()),
                non_key_attributes: proj
                    .and_then(|p| get(p, "NonKeyAttributes"))
                    .and_then(Value::as_sequence)
                    .map(|s| s.iter().filter_map(scalar).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn parse_table(id: &str, props: Option<&Value>) -> TableSpec {
    let p = |k: &str| props.and_then(|p| get(p, k));
    let ttl = p("TimeToLiveSpecification");
    TableSpec {
        logical_id: id.to_string(),
        attributes: p("AttributeDefinitions")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|a| {
                Some((
                    get(a, "AttributeName").and_then(scalar)?,
                    get(a, "AttributeType").and_then(scalar)?,
                ))
            })
            .collect(),
        key_schema: key_schema(p("KeySchema")),
        global_indexes: parse_indexes(p("GlobalSecondaryIndexes")),
        local_indexes: parse_indexes(p("LocalSecondaryIndexes")),
        billing_mode: p("BillingMode").and_then(scalar),
        ttl_attribute: ttl
            .filter(|t| get(t, "Enabled").and_then(Value::as_bool).unwrap_or(false))
            .and_then(|t| get(t, "AttributeName"))
            .and_then(scalar),
        stream_view_type: p("StreamSpecification")
            .and_then(|s| get(s, "StreamViewType"))
            .and_then(scalar),
    }
}

fn parse_stream_source(
    function: &str,
    name: &str,
    props: Option<&Value>,
) -> Result<StreamSourceSpec, Error> {
    let p = |k: &str| props.and_then(|p| get(p, k));
    let num = |k: &str| p(k).and_then(scalar).and_then(|s| s.parse::<i64>().ok());
    let mut filters = Vec::new();
    let listed = p("FilterCriteria")
        .and_then(|f| get(f, "Filters"))
        .and_then(Value::as_sequence);
    for f in listed.into_iter().flatten() {
        let Some(pattern) = get(f, "Pattern").and_then(scalar) else {
            continue;
        };
        let parsed: serde_json::Value = serde_json::from_str(&pattern).map_err(|e| {
            Error::Template(format!(
                "{function}.{name}: filter pattern is not JSON: {e}"
            ))
        })?;
        if !parsed.is_object() {
            return Err(Error::Template(format!(
                "{function}.{name}: filter pattern must be a JSON object"
            )));
        }
        filters.push(parsed);
    }
    let response_types: Vec<String> = match p("FunctionResponseTypes") {
        Some(Value::Sequence(s)) => s.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    };
    Ok(StreamSourceSpec {
        function: function.to_string(),
        name: name.to_string(),
        starting_position: p("StartingPosition")
            .and_then(scalar)
            .unwrap_or_else(|| "LATEST".into()),
        batch_size: num("BatchSize").unwrap_or(100).clamp(1, 10_000) as usize,
        batching_window: Duration::from_secs(
            num("MaximumBatchingWindowInSeconds").unwrap_or(0).max(0) as u64,
        ),
        filters,
        report_batch_item_failures: response_types
            .iter()
            .any(|r| r == "ReportBatchItemFailures"),
        maximum_retry_attempts: num("MaximumRetryAttempts"),
    })
}

/// Mapping lookup by string key (no tag unwrapping).
fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

/// A plain scalar as a string (strings, numbers, booleans).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `all` and `any` over conditions that may not be evaluable (then neither is the whole).
trait Conditions {
    fn sum_and(self) -> Option<bool>;
    fn sum_or(self) -> Option<bool>;
}

impl<I: Iterator<Item = Option<bool>>> Conditions for I {
    fn sum_and(self) -> Option<bool> {
        self.collect::<Option<Vec<bool>>>()
            .map(|v| v.iter().all(|c| *c))
    }
    fn sum_or(self) -> Option<bool> {
        self.collect::<Option<Vec<bool>>>()
            .map(|v| v.iter().any(|c| *c))
    }
}

/// Inner value of `!Tag value`.
fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// `!Ref X` or `{Ref: X}`.
fn ref_name(v: &Value) -> Option<&str> {
    tagged(v, "Ref")
        .or_else(|| get(v, "Ref"))
        .and_then(Value::as_str)
}

/// The format string of `!Sub "..."` / `!Sub ["...", {..}]` / `Fn::Sub`.
fn sub_string(v: &Value) -> Option<String> {
    let inner = tagged(v, "Sub").or_else(|| get(v, "Fn::Sub"))?;
    match inner {
        Value::Sequence(s) => s.first().and_then(scalar),
        other => scalar(other),
    }
}

/// `!GetAtt X.Attr` / `!GetAtt [X, Attr]` / `Fn::GetAtt`.
fn get_att(v: &Value) -> Option<(String, String)> {
    let inner = tagged(v, "GetAtt").or_else(|| get(v, "Fn::GetAtt"))?;
    match inner {
        Value::Sequence(s) => Some((scalar(s.first()?)?, scalar(s.get(1)?)?)),
        other => {
            let s = scalar(other)?;
            let (a, b) = s.split_once('.')?;
            Some((a.to_string(), b.to_string()))
        }
    }
}

/// Variable names referenced as `${Name}` in a `!Sub` string (`${!Literal}` skipped).
pub(crate) fn sub_vars(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            out.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    out
}

/// Substitutes `${Name}` in a `!Sub` string; a name `vars` does not know stays as written
/// (so an ARN that names something unknown matches nothing).
pub fn substitute(s: &str, vars: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            }
            None => match vars(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
