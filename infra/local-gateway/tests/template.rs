//! Template parsing, route priority and function environment resolution.

use std::path::PathBuf;
use std::time::Duration;

use local_gateway::routes::Router;
use local_gateway::{GatewayConfig, Template, function_env};

fn repo_template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template.yaml")
}

#[test]
fn reads_the_project_template() {
    let t = Template::load(&repo_template()).unwrap();
    let groups = &t.functions["GroupsFunction"];
    assert_eq!(groups.binary, "groups");
    assert_eq!(groups.timeout, Duration::from_secs(10));
    assert_eq!(groups.memory_mb, 256);
    assert_eq!(groups.log_format.as_deref(), Some("JSON"));
    let msg = &t.functions["WsMessageFunction"];
    assert_eq!(
        (msg.binary.as_str(), msg.timeout, msg.memory_mb),
        ("ws-message", Duration::from_secs(29), 512)
    );
    // Parameter defaults resolve, secrets and resource refs do not.
    assert_eq!(groups.environment["RUST_LOG"].as_deref(), Some("info"));
    assert_eq!(
        groups.environment["NOTIFICATION_RETENTION_DAYS"].as_deref(),
        Some("90")
    );
    assert_eq!(groups.environment["JWKS_URL"].as_deref(), Some(""));
    // The keys come from the secret the operator names (no default), never from the template.
    assert_eq!(groups.environment["KEYS_SECRET_ARN"], None);
    assert!(!groups.environment.contains_key("JWT_SECRET"));
    assert_eq!(groups.environment["JWT_ISSUER"], None);

    let ws = &t.websocket;
    assert_eq!(ws.routes["$connect"], "WsConnectFunction");
    assert_eq!(ws.routes["$disconnect"], "WsDisconnectFunction");
    assert_eq!(ws.routes["$default"], "WsMessageFunction");
    assert_eq!(
        ws.route_selection_expression.as_deref(),
        Some("$request.body.type")
    );
    assert_eq!(ws.stage, "dev");
    assert!(ws.connect_authorizer.is_none());

    // CORS for the web app's CloudFront origin only (a resource attribute: nothing locally),
    // unless AllowedOrigins names the origins.
    let cors = t.cors.as_ref().unwrap();
    assert!(cors.allow_origins.is_empty(), "{:?}", cors.allow_origins);
    assert_eq!(cors.max_age, Some(600));
    assert_eq!(t.conditions.get("HasAllowedOrigins"), Some(&false));
    let overrides = std::collections::BTreeMap::from([(
        "AllowedOrigins".to_string(),
        "http://127.0.0.1:3002,https://community.example.edu".to_string(),
    )]);
    let t2 = Template::load_with(&repo_template(), &overrides).unwrap();
    assert_eq!(t2.conditions.get("HasAllowedOrigins"), Some(&true));
    assert_eq!(
        t2.cors.as_ref().unwrap().allow_origins,
        vec!["http://127.0.0.1:3002", "https://community.example.edu"]
    );

    let table = t.table.as_ref().unwrap();
    assert_eq!(
        table.key_schema,
        vec![("PK".into(), "HASH".into()), ("SK".into(), "RANGE".into())]
    );
    assert_eq!(
        table
            .global_indexes
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>(),
        ["GSI1", "GSI2", "GSI3"]
    );
    assert_eq!(table.ttl_attribute.as_deref(), Some("ttl"));
    assert_eq!(table.billing_mode.as_deref(), Some("PAY_PER_REQUEST"));

    // Every HTTP route of the project resolves to the intended function.
    let r = Router::new(&t.http_routes);
    let f = |m: &str, p: &str| r.find(m, p).map(|m| m.function.to_string());
    assert_eq!(
        f("GET", "/api/community/groups").as_deref(),
        Some("GroupsFunction")
    );
    assert_eq!(
        f("GET", "/api/community/groups/").as_deref(),
        Some("GroupsFunction")
    );
    assert_eq!(
        f("POST", "/api/community/groups/g1/join/").as_deref(),
        Some("GroupsFunction")
    );
    assert_eq!(
        f("POST", "/api/community/groups/g1/posts/").as_deref(),
        Some("PostsFunction")
    );
    assert_eq!(
        f("GET", "/api/community/groups/g1/moderation").as_deref(),
        Some("PostsFunction")
    );
    assert_eq!(
        f("POST", "/api/community/groups/g1/moderation").as_deref(),
        Some("GroupsFunction")
    );
    assert_eq!(
        f("GET", "/api/community/groups/g1/messages/").as_deref(),
        Some("MessagesFunction")
    );
    assert_eq!(
        f("GET", "/api/community/groups/g1/online").as_deref(),
        Some("MessagesFunction")
    );
    assert_eq!(
        f("PUT", "/api/community/lms/courses/c1/enrollments/u1/").as_deref(),
        Some("LmsFunction")
    );
    assert_eq!(
        f("GET", "/api/community/notifications/unread-count/").as_deref(),
        Some("NotificationsFunction")
    );
    assert_eq!(f("GET", "/api/community/lms"), None);
    assert_eq!(f("GET", "/nope"), None);
    let m = r.find("GET", "/api/community/groups/g1/posts").unwrap();
    assert_eq!(m.route_key, "ANY /api/community/groups/{id}/posts");
    assert_eq!(m.path_parameters["id"], "g1");
    let m = r
        .find("GET", "/api/community/groups/g%201/members/u1/")
        .unwrap();
    assert_eq!(m.route_key, "ANY /api/community/groups/{proxy+}");
    assert_eq!(m.path_parameters["proxy"], "g 1/members/u1/");

    // Routes match literally on an HTTP API, so the template declares both forms of every path a
    // route names: with and without a trailing slash, each endpoint reaches the same function.
    for (method, path, function) in [
        ("GET", "/api/community/groups", "GroupsFunction"),
        ("POST", "/api/community/groups/g1/join", "GroupsFunction"),
        ("GET", "/api/community/groups/g1/members", "GroupsFunction"),
        ("GET", "/api/community/groups/g1/online", "MessagesFunction"),
        (
            "GET",
            "/api/community/groups/g1/messages",
            "MessagesFunction",
        ),
        (
            "GET",
            "/api/community/groups/g1/moderation",
            "PostsFunction",
        ),
        ("POST", "/api/community/groups/g1/posts", "PostsFunction"),
        ("GET", "/api/community/groups/g1/posts", "PostsFunction"),
        (
            "PUT",
            "/api/community/groups/g1/watch",
            "NotificationsFunction",
        ),
        ("GET", "/api/community/posts", "PostsFunction"),
        ("POST", "/api/community/posts/p1/react", "PostsFunction"),
        ("GET", "/api/community/messages", "MessagesFunction"),
        (
            "GET",
            "/api/community/messages/unread-count",
            "MessagesFunction",
        ),
        (
            "GET",
            "/api/community/notifications",
            "NotificationsFunction",
        ),
        (
            "PUT",
            "/api/community/notifications/preferences",
            "NotificationsFunction",
        ),
        ("PUT", "/api/community/lms/users/u1", "LmsFunction"),
    ] {
        for p in [path.to_string(), format!("{path}/")] {
            assert_eq!(f(method, &p).as_deref(), Some(function), "{method} {p}");
        }
    }
}

#[test]
fn reads_the_fixture_template() {
    let t = Template::load(&fixture()).unwrap();
    assert_eq!(t.websocket.stage, "test");
    assert_eq!(t.websocket.routes["custom"], "CustomFunction");
    assert_eq!(t.websocket.routes["$default"], "WsFunction");
    assert_eq!(
        t.functions["CustomFunction"].timeout,
        Duration::from_secs(5)
    );
    assert_eq!(t.functions["EchoFunction"].memory_mb, 512);
    assert_eq!(t.functions["WsFunction"].memory_mb, 256);
    let g = &t.table.as_ref().unwrap().global_indexes[0];
    assert_eq!(g.projection_type, "INCLUDE");
    assert_eq!(g.non_key_attributes, vec!["title"]);
}

#[test]
fn route_priority() {
    use local_gateway::template::HttpRouteSpec;
    let spec = |m: &str, p: Option<&str>, f: &str| HttpRouteSpec {
        method: m.into(),
        path: p.map(Into::into),
        function: f.into(),
    };
    let r = Router::new(&[
        spec("ANY", None, "default"),
        spec("ANY", Some("/a/{proxy+}"), "greedy"),
        spec("ANY", Some("/a/{id}"), "param"),
        spec("GET", Some("/a/{id}"), "get-param"),
        spec("ANY", Some("/a/fixed"), "literal"),
        spec("ANY", Some("/a/{id}/b"), "param-b"),
        spec("ANY", Some("/a/x/{id}"), "x-param"),
        spec("ANY", Some("/"), "root"),
    ]);
    let f = |m: &str, p: &str| r.find(m, p).unwrap().function.to_string();
    assert_eq!(f("GET", "/a/fixed"), "literal");
    // Literally: `/a/fixed/` is not `/a/fixed`, so the greedy route takes it.
    assert_eq!(f("GET", "/a/fixed/"), "greedy");
    assert_eq!(f("GET", "/a/1"), "get-param");
    assert_eq!(f("POST", "/a/1"), "param");
    assert_eq!(f("POST", "/a/1/b"), "param-b");
    assert_eq!(f("POST", "/a/x/b"), "x-param");
    assert_eq!(f("POST", "/a/1/c"), "greedy");
    assert_eq!(f("POST", "/a/1/b/c"), "greedy");
    assert_eq!(f("POST", "/"), "root");
    assert_eq!(f("POST", "/a"), "default");
    assert_eq!(f("POST", "/zzz"), "default");
    assert_eq!(r.find("POST", "/a").unwrap().route_key, "$default");
}

#[test]
fn function_environment() {
    let t = Template::load(&fixture()).unwrap();
    let cfg = GatewayConfig::default()
        .table_name("t1")
        .dynamodb_endpoint("http://127.0.0.1:8999")
        .env("OVERRIDDEN", "override")
        .env("EXTRA", "x");
    let env = function_env(
        &cfg,
        &t.functions["EchoFunction"],
        "http://127.0.0.1:4001",
        "http://127.0.0.1:4000/dev",
    );
    assert_eq!(env["LITERAL"], "plain");
    assert_eq!(env["FROM_PARAM"], "hello");
    assert!(!env.contains_key("NO_DEFAULT"));
    assert_eq!(env["FUNCTION_ONLY"], "yes-this-one");
    assert_eq!(env["OVERRIDDEN"], "override");
    assert_eq!(env["EXTRA"], "x");
    assert_eq!(env["TABLE_NAME"], "t1");
    assert_eq!(env["AWS_ENDPOINT_URL_DYNAMODB"], "http://127.0.0.1:8999");
    assert_eq!(env["WS_MANAGEMENT_ENDPOINT"], "http://127.0.0.1:4001");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "EchoFunction");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    assert!(env.contains_key("AWS_ACCESS_KEY_ID") && env.contains_key("AWS_SECRET_ACCESS_KEY"));
    for k in local_gateway::EMULATED_SERVICES {
        assert!(!env.contains_key(k), "{k} set with no emulator");
    }
    let env = function_env(
        &cfg.log_format("Text"),
        &t.functions["EchoFunction"],
        "x",
        "y",
    );
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "Text");
    let cfg = GatewayConfig::default().aws_endpoint("http://127.0.0.1:5999");
    let env = function_env(&cfg, &t.functions["EchoFunction"], "x", "y");
    assert_eq!(env["AWS_ENDPOINT_URL_S3"], "http://127.0.0.1:5999");
    assert_eq!(env["AWS_ENDPOINT_URL_SESV2"], "http://127.0.0.1:5999");
    assert_eq!(env["AWS_ENDPOINT_URL_SNS"], "http://127.0.0.1:5999");
    assert_eq!(
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
        "http://127.0.0.1:5999"
    );
}

#[test]
fn authorizer_and_errors() {
    let base = std::fs::read_to_string(fixture()).unwrap();
    let with_auth = base.replace(
        "      RouteKey: $connect\n",
        "      RouteKey: $connect\n      AuthorizationType: CUSTOM\n      AuthorizerId: !Ref Auth\n",
    ) + r#"
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref WebSocketApi
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${CustomFunction.Arn}/invocations"
      IdentitySource: [route.request.querystring.token]
"#;
    let t = Template::parse(&with_auth).unwrap();
    let a = t.websocket.connect_authorizer.unwrap();
    assert_eq!(a.function, "CustomFunction");
    assert_eq!(a.identity_sources, vec!["route.request.querystring.token"]);
    assert!(Template::parse("not: [valid").is_err());
    assert!(
        Template::parse("Resources: {}")
            .unwrap()
            .functions
            .is_empty()
    );
}

#[test]
fn default_paths_resolve_from_anywhere_in_the_workspace() {
    let cfg = GatewayConfig::default();
    assert!(cfg.template.is_file(), "{}", cfg.template.display());
    assert!(
        cfg.bin_dir.ends_with("debug") || cfg.bin_dir.ends_with("release"),
        "{}",
        cfg.bin_dir.display()
    );
    assert_eq!(
        local_gateway::workspace_root()
            .unwrap()
            .join("infra/template.yaml"),
        cfg.template
    );
}

#[test]
fn reads_the_stream_and_its_event_source() {
    let t = Template::load(&repo_template()).unwrap();
    let table = t.table.as_ref().unwrap();
    assert_eq!(
        table.stream_view_type.as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );
    let source = t
        .stream_sources
        .iter()
        .find(|s| s.function == "NotifyFunction")
        .expect("the notifier reads the stream");
    assert_eq!(source.starting_position, "LATEST");
    assert_eq!(source.batch_size, 4);
    assert!(source.report_batch_item_failures);
    assert_eq!(source.filters.len(), 2);
    let job = serde_json::json!({
        "eventName": "INSERT",
        "dynamodb": { "NewImage": { "entity": { "S": "notification_job" } } }
    });
    let post = serde_json::json!({
        "eventName": "INSERT",
        "dynamodb": { "NewImage": { "entity": { "S": "post" } } }
    });
    let expiry = serde_json::json!({
        "eventName": "REMOVE",
        "dynamodb": { "OldImage": { "entity": { "S": "notification" }, "is_read": { "BOOL": false } } }
    });
    let read = serde_json::json!({
        "eventName": "MODIFY",
        "dynamodb": {
            "OldImage": { "entity": { "S": "notification" }, "is_read": { "BOOL": false } },
            "NewImage": { "entity": { "S": "notification" }, "is_read": { "BOOL": true } }
        }
    });
    let passes = |e: &serde_json::Value| {
        source
            .filters
            .iter()
            .any(|f| local_gateway::streams::matches(f, e))
    };
    assert!(passes(&job));
    assert!(passes(&expiry));
    assert!(!passes(&post));
    assert!(!passes(&read));
}

#[test]
fn a_ref_to_a_bucket_is_its_local_name_and_the_bucket_is_listed() {
    let text = r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          BUCKET: !Ref FilesBucket
          OTHER: !Ref SomethingElse
  FilesBucket:
    Type: AWS::S3::Bucket
"#;
    let t = Template::parse(text).unwrap();
    assert_eq!(t.buckets, vec!["FilesBucket"]);
    let env = &t.functions["Fn"].environment;
    assert_eq!(env["BUCKET"].as_deref(), Some("local-filesbucket"));
    assert_eq!(env["OTHER"], None);
    let real = Template::load(&repo_template()).unwrap();
    assert!(real.buckets.contains(&"AttachmentsBucket".to_string()));
    assert_eq!(
        real.functions["AttachmentsFunction"].environment["ATTACHMENTS_BUCKET"].as_deref(),
        Some("local-attachmentsbucket")
    );
}

#[test]
fn the_search_indexer_reads_posts_and_community_chat_only() {
    let t = Template::load(&repo_template()).unwrap();
    let source = t
        .stream_sources
        .iter()
        .find(|s| s.function == "SearchIndexerFunction")
        .expect("the search indexer reads the stream");
    assert!(source.report_batch_item_failures);
    let record = |name: &str, pk: &str, sk: &str| {
        serde_json::json!({
            "eventName": name,
            "dynamodb": { "Keys": { "PK": { "S": pk }, "SK": { "S": sk } } }
        })
    };
    let passes = |e: &serde_json::Value| {
        source
            .filters
            .iter()
            .any(|f| local_gateway::streams::matches(f, e))
    };
    assert!(passes(&record("INSERT", "POST#01P", "META")));
    assert!(passes(&record("MODIFY", "POST#01P", "META")));
    assert!(passes(&record("INSERT", "COMMUNITY#01C#CHAT", "MSG#01M")));
    assert!(!passes(&record("INSERT", "CONV#01V", "MSG#01M")));
    assert!(!passes(&record("INSERT", "POST#01P", "REACTION#u")));
    assert!(!passes(&record(
        "INSERT",
        "COMMUNITY#01C#SEARCH#ma",
        "marathon#01P"
    )));
}
