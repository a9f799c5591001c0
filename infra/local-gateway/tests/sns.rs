//! SNS topics and `Type: SNS` events (fixture `sns.yaml`) against the AWS emulator
//! (`TEST_AWS_ENDPOINT`; skipped without it): the topic is created, `!Ref` gives its ARN, and a
//! message published to it reaches the subscribed function as Lambda's SNS event.

mod common;

use std::time::Duration;

use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use local_gateway::GatewayConfig;
use local_gateway::template::local_topic_arn;
use serde_json::Value;

use common::{examples_dir, start};

fn endpoint() -> Option<String> {
    let e = std::env::var("TEST_AWS_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    if e.is_none() {
        eprintln!("TEST_AWS_ENDPOINT unset: skipped (make test starts the AWS emulator)");
    }
    e
}

fn sns_config(endpoint: &str) -> GatewayConfig {
    GatewayConfig::for_tests()
        .template(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sns.yaml"),
        )
        .bin_dir(examples_dir())
        .aws_endpoint(endpoint)
}

fn client(endpoint: &str) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

/// The endpoints subscribed to the topic.
async fn subscribed(sns: &aws_sdk_sns::Client, topic: &str) -> Vec<String> {
    sns.list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .unwrap()
        .subscriptions()
        .iter()
        .filter_map(|s| s.endpoint().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_message_published_to_the_topic_reaches_the_subscribed_function() {
    let Some(endpoint) = endpoint() else { return };
    let t = start(sns_config(&endpoint)).await;
    let topic = local_topic_arn("us-east-1", "GatewayTestEvents");
    assert_eq!(
        topic,
        "arn:aws:sns:us-east-1:123456789012:local-gatewaytestevents"
    );
    assert_eq!(t.gw.template().sns_sources[0].topic_arn, topic);
    assert_eq!(
        t.gw.topic_arn("GatewayTestEvents").as_deref(),
        Some(topic.as_str())
    );
    assert_eq!(t.gw.topic_arn("Bounces"), None);

    // `!Ref` and `!GetAtt` of the topic, as the function sees them.
    let env = t.gw.function_env("Bounces").unwrap();
    assert_eq!(env["TOPIC_ARN"], topic);
    assert_eq!(env["TOPIC_NAME"], "local-gatewaytestevents");

    // The topic exists in the emulator, with the gateway's endpoint subscribed.
    let sns = client(&endpoint);
    let mine = format!("http://{}/@gateway/sns/Bounces/FromTopic", t.gw.ws_addr());
    assert!(subscribed(&sns, &topic).await.contains(&mine));

    let published = sns
        .publish()
        .topic_arn(&topic)
        .subject("Bounce")
        .message(r#"{"eventType":"Bounce","mail":{"messageId":"m-1"}}"#)
        .send()
        .await
        .unwrap();
    let message_id = published.message_id().unwrap().to_string();

    let recorded = t
        .wait_event(|e| e["Records"][0]["EventSource"] == "aws:sns")
        .await;
    assert!(
        recorded["arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:Bounces")
    );
    let event: aws_lambda_events::event::sns::SnsEvent =
        serde_json::from_value(recorded["event"].clone()).unwrap();
    let record = &event.records[0];
    assert_eq!(record.event_source, "aws:sns");
    assert_eq!(record.event_version, "1.0");
    assert!(
        record
            .event_subscription_arn
            .starts_with(&format!("{topic}:")),
        "{}",
        record.event_subscription_arn
    );
    assert_eq!(record.sns.sns_message_type, "Notification");
    assert_eq!(record.sns.message_id, message_id);
    assert_eq!(record.sns.topic_arn, topic);
    assert_eq!(record.sns.subject.as_deref(), Some("Bounce"));
    assert_eq!(
        record.sns.message,
        r#"{"eventType":"Bounce","mail":{"messageId":"m-1"}}"#
    );
    let raw = &recorded["event"]["Records"][0]["Sns"];
    for key in ["Timestamp", "Signature", "SigningCertUrl", "UnsubscribeUrl"] {
        assert!(
            raw[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}: {raw}"
        );
    }

    // One invocation per message.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sns_events: Vec<Value> = t
        .events()
        .into_iter()
        .filter(|e| e["event"]["Records"][0]["EventSource"] == "aws:sns")
        .collect();
    assert_eq!(sns_events.len(), 1, "{sns_events:#?}");

    // Shut down, the gateway leaves no subscription behind.
    t.gw.shutdown().await;
    assert!(!subscribed(&sns, &topic).await.contains(&mine));
}

#[tokio::test]
async fn a_message_the_function_fails_on_is_retried_twice() {
    let Some(endpoint) = endpoint() else { return };
    let fixture =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sns.yaml");
    let text = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("GatewayTestEvents", "GatewayRetryEvents");
    let dir = std::env::temp_dir().join(format!("local-gateway-sns-retry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("sns.yaml");
    std::fs::write(&template, text).unwrap();
    // Retries sooner than Lambda's 1 and 2 minutes, so that the test sees them.
    let t = start(
        sns_config(&endpoint)
            .template(&template)
            .async_retry_delays(vec![Duration::from_millis(200), Duration::from_millis(400)]),
    )
    .await;
    let topic = local_topic_arn("us-east-1", "GatewayRetryEvents");
    let sns = client(&endpoint);
    // The echo function fails on the message "fail".
    let id = sns
        .publish()
        .topic_arn(&topic)
        .message("fail")
        .send()
        .await
        .unwrap()
        .message_id()
        .unwrap()
        .to_string();
    let attempts = || {
        t.events()
            .into_iter()
            .filter(|e| e["event"]["Records"][0]["Sns"]["MessageId"] == id.as_str())
            .count()
    };
    for _ in 0..100 {
        if attempts() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then given up: no fourth attempt.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(attempts(), 3);
    let stats = t.gw.stats();
    assert_eq!(stats.functions["Bounces"].errors, 3, "{stats:?}");
    t.gw.shutdown().await;
}

#[tokio::test]
async fn subscriptions_of_gateways_that_are_gone_do_not_break_publishing() {
    let Some(endpoint) = endpoint() else { return };
    // A topic of its own, so that the other test's publishing never meets the subscriptions
    // this one leaves behind.
    let fixture =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sns.yaml");
    let text = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("GatewayTestEvents", "GatewayRestartEvents");
    let dir = std::env::temp_dir().join(format!("local-gateway-sns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("sns.yaml");
    std::fs::write(&template, text).unwrap();
    let config = || sns_config(&endpoint).template(&template);
    let topic = local_topic_arn("us-east-1", "GatewayRestartEvents");
    let sns = client(&endpoint);

    // A gateway dropped without shutting down removes its subscription too.
    let first = start(config()).await;
    let dropped = format!(
        "http://{}/@gateway/sns/Bounces/FromTopic",
        first.gw.ws_addr()
    );
    assert!(subscribed(&sns, &topic).await.contains(&dropped));
    drop(first);
    assert!(!subscribed(&sns, &topic).await.contains(&dropped));

    // One that was killed leaves it behind: the emulator would fail every publish on it, so the
    // next gateway removes it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let killed = format!("http://127.0.0.1:{port}/@gateway/sns/Bounces/FromTopic");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&killed)
        .send()
        .await
        .unwrap();
    let t = start(config()).await;
    assert!(!subscribed(&sns, &topic).await.contains(&killed));
    sns.publish()
        .topic_arn(&topic)
        .message("after a restart")
        .send()
        .await
        .unwrap();
    t.wait_event(|e| e["Records"][0]["Sns"]["Message"] == "after a restart")
        .await;
    t.gw.shutdown().await;
}

#[test]
fn a_ref_to_a_topic_is_its_local_arn_in_the_region() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sns.yaml");
    let t = local_gateway::Template::load_in(&path, &Default::default(), "eu-west-1").unwrap();
    let arn = "arn:aws:sns:eu-west-1:123456789012:local-gatewaytestevents";
    assert_eq!(t.topics, ["GatewayTestEvents"]);
    assert_eq!(
        t.sns_sources,
        [local_gateway::template::SnsSourceSpec {
            function: "Bounces".into(),
            name: "FromTopic".into(),
            topic_arn: arn.into(),
        }]
    );
    let env = &t.functions["Bounces"].environment;
    assert_eq!(env["TOPIC_ARN"].as_deref(), Some(arn));
    assert_eq!(
        env["TOPIC_NAME"].as_deref(),
        Some("local-gatewaytestevents")
    );
    // In a policy, as a `!Sub` variable is (substituted when the gateway starts).
    assert_eq!(
        t.functions["Bounces"].policy_statements[0].resources,
        ["${GatewayTestEvents}"]
    );

    // A Topic that is neither an ARN nor a topic of the template is an error naming the event.
    let e = local_gateway::Template::parse(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E:\n          Type: SNS\n          Properties:\n            Topic: !Ref Missing\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("F.E"), "{e}");
}
