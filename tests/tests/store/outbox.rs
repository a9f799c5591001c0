//! The outbox: a job is written with its event or not at all.

use e2e::TestTable;
use shared::store::{TxOutcome, outbox};

fn job(id: &str) -> shared::notifications::jobs::Job {
    shared::notifications::jobs::Job {
        id: id.into(),
        kind: shared::notifications::jobs::JobKind::ChatMessage,
        community_id: "c1".into(),
        actor: shared::notifications::Actor {
            id: "u1".into(),
            name: Some("U".into()),
        },
        post: None,
        message: None,
        snippet: "hi @sam".into(),
        reason: None,
        mentions: vec!["sam".into()],
        created_at: "2026-11-23T10:00:00.000Z".into(),
        anonymous_actor: false,
    }
}

#[tokio::test]
async fn a_job_staged_twice_refuses_its_whole_transaction_by_name() {
    let t = TestTable::new().await;
    let id = shared::ids::new_id();
    let mut first = t.db.tx();
    outbox::stage(&mut first, &job(&id)).unwrap();
    assert_eq!(t.db.run(first).await.unwrap(), TxOutcome::Done);

    let mut again = t.db.tx();
    let other = shared::keys::user("someone");
    again
        .put(shared::db::to_item(&other, &serde_json::json!({"x": 1})).unwrap())
        .unwrap();
    outbox::stage(&mut again, &job(&id)).unwrap();
    match t.db.run(again).await.unwrap() {
        TxOutcome::Refused(r) => assert!(r.by(outbox::JOB_EXISTS), "{r:?}"),
        TxOutcome::Done => panic!("a job id is written once"),
    }
    // Nothing of the refused transaction was written.
    let written: Option<serde_json::Value> = t.db.get(&other).await.unwrap();
    assert!(written.is_none());
}
