//! WebSocket API (connect/message/disconnect routes, limits) and the Management API on the same port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::config::Faults;
use crate::connections::{Conn, Out};
use crate::events::{WsConnContext, ws_status};
use crate::runtime::InvokeError;
use crate::state::App;
use crate::throttle::Kind;
use crate::util;

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut r = json_response(status, json!({ "message": message, "__type": kind }));
    if let Ok(v) = HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn fault_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status.as_u16() {
        410 => aws_error(status, "GoneException", "Injected fault: connection gone"),
        429 => aws_error(
            status,
            "LimitExceededException",
            "Injected fault: rate exceeded",
        ),
        403 => aws_error(status, "ForbiddenException", "Injected fault: forbidden"),
        413 => aws_error(
            status,
            "PayloadTooLargeException",
            "Injected fault: payload too large",
        ),
        _ => aws_error(
            status,
            "InternalServerErrorException",
            "Injected fault: internal error",
        ),
    }
}

/// The WS port's single handler: Management API, gateway control, or a WebSocket upgrade.
pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    if let Some(id) = connection_id_in_path(&path) {
        let method = req.method().clone();
        let resource = format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}/@connections/{}",
            app.cfg.region,
            crate::events::ACCOUNT_ID,
            app.ws_api_id,
            app.template.websocket.stage,
            method,
            id
        );
        match app.policies.check(req.headers(), &resource) {
            crate::iam::Decision::Allowed => {
                if let (Some(log), Some(function)) =
                    (&app.calls, crate::calls::function_of(req.headers(), ""))
                {
                    log.record(&function, crate::iam::MANAGE_CONNECTIONS);
                }
            }
            crate::iam::Decision::Unsigned => {
                app.ws.count(StatusCode::FORBIDDEN);
                return aws_error(
                    StatusCode::FORBIDDEN,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                );
            }
            crate::iam::Decision::Denied(message) => {
                tracing::warn!(%message, "Management API call refused by the function's policies");
                app.ws.count(StatusCode::FORBIDDEN);
                return aws_error(StatusCode::FORBIDDEN, "ForbiddenException", &message);
            }
        }
        if !app.throttle.admit(Kind::ManagementCall) {
            app.ws.count(StatusCode::TOO_MANY_REQUESTS);
            return aws_error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "Rate exceeded",
            );
        }
        let limit = app.cfg.limits.max_message_bytes;
        let body = match axum::body::to_bytes(req.into_body(), limit + 1).await {
            Ok(b) => b,
            Err(_) => {
                app.ws.count(StatusCode::PAYLOAD_TOO_LARGE);
                return aws_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLargeException",
                    "Request entity too large",
                );
            }
        };
        return management(&app, method, &id, body).await;
    }
    // Gateway control, under any prefix (such as the stage of the Management API's URL).
    if let Some(pos) = path.find("/@gateway/") {
        let rest = path[pos + "/@gateway/".len()..].to_string();
        return gateway_control(app, req.method().clone(), &rest, req.into_body()).await;
    }
    upgrade(app, peer, req).await
}

/// `…/@connections/{id}` under any prefix; the id percent-decoded.
fn connection_id_in_path(path: &str) -> Option<String> {
    for marker in ["/@connections/", "/%40connections/"] {
        if let Some(pos) = path.find(marker) {
            let id = &path[pos + marker.len()..];
            let id = id.strip_suffix('/').unwrap_or(id);
            if !id.is_empty() && !id.contains('/') {
                return Some(util::percent_decode(id));
            }
        }
    }
    None
}

async fn management(app: &App, method: Method, id: &str, body: Bytes) -> Response {
    let ws = &app.ws;
    let faults = ws.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if method == Method::POST && faults.fail_rate > 0.0 && fastrand::f64() < faults.fail_rate {
        let r = fault_response(faults.fail_status);
        // API Gateway answers 410 only for a connection that is gone: an injected 410 drops the
        // connection too, so what the function is told and what the client sees agree.
        if faults.fail_status == 410
            && let Some(conn) = ws.get(id)
        {
            conn.request_close(1001, "Going away");
        }
        ws.injected.fetch_add(1, Ordering::Relaxed);
        ws.count(r.status());
        return r;
    }
    let gone = || {
        aws_error(
            StatusCode::GONE,
            "GoneException",
            &format!("Connection {id} is gone"),
        )
    };
    let r = if method == Method::POST {
        if body.len() > app.cfg.limits.max_message_bytes {
            aws_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                "Message too long",
            )
        } else {
            match ws.get(id) {
                None => gone(),
                Some(conn) => {
                    let out = match String::from_utf8(body.to_vec()) {
                        Ok(s) => Out::Text(s),
                        Err(_) => Out::Binary(body),
                    };
                    if conn.out.send(out).is_ok() {
                        ws.delivered.fetch_add(1, Ordering::Relaxed);
                        StatusCode::OK.into_response()
                    } else {
                        gone()
                    }
                }
            }
        }
    } else if method == Method::GET {
        match ws.get(id) {
            None => gone(),
            Some(c) => json_response(
                StatusCode::OK,
                json!({
                    "connectedAt": util::iso_time(c.ctx.connected_at_ms),
                    "identity": { "sourceIp": c.ctx.source_ip, "userAgent": c.ctx.user_agent },
                    "lastActiveAt": util::iso_time(c.last_active_ms.load(Ordering::Relaxed)),
                }),
            ),
        }
    } else if method == Method::DELETE {
        match ws.remove(id) {
            None => gone(),
            Some(c) => {
                c.request_close(1000, "");
                StatusCode::NO_CONTENT.into_response()
            }
        }
    } else {
        aws_error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "Missing Authentication Token",
        )
    };
    ws.count(r.status());
    r
}

async fn gateway_control(app: Arc<App>, method: Method, rest: &str, body: Body) -> Response {
    let rest = rest.trim_end_matches('/');
    if let Some(id) = rest.strip_prefix("schedules/") {
        return if method == Method::POST {
            run_schedule(&app, &util::percent_decode(id)).await
        } else {
            json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({ "message": "POST runs a schedule now" }),
            )
        };
    }
    if let Some((function, event)) = rest
        .strip_prefix("sns/")
        .and_then(|r| r.split_once('/'))
        .filter(|_| method == Method::POST)
    {
        let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
            return json_response(StatusCode::BAD_REQUEST, json!({ "message": "bad body" }));
        };
        let (function, event) = (util::percent_decode(function), util::percent_decode(event));
        let (status, text) = crate::sns::deliver(app, &function, &event, bytes).await;
        return (status, text).into_response();
    }
    match (method, rest) {
        (Method::GET, "schedules") => json_response(
            StatusCode::OK,
            json!({
                "timers": app.cfg.run_schedules,
                "schedules": crate::schedules::list(&app),
            }),
        ),
        (Method::GET, "faults") => json_response(StatusCode::OK, json!(app.ws.faults())),
        (Method::PUT | Method::POST, "faults") => {
            let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
                return json_response(StatusCode::BAD_REQUEST, json!({ "message": "bad body" }));
            };
            match serde_json::from_slice::<Faults>(&bytes) {
                Ok(f)
                    if (0.0..=1.0).contains(&f.fail_rate)
                        && (100..600).contains(&f.fail_status) =>
                {
                    app.ws.set_faults(f);
                    json_response(StatusCode::OK, json!(f))
                }
                Ok(_) => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "fail_rate in 0..1, fail_status in 100..599" }),
                ),
                Err(e) => {
                    json_response(StatusCode::BAD_REQUEST, json!({ "message": e.to_string() }))
                }
            }
        }
        (Method::GET, "stats") => json_response(StatusCode::OK, json!(app.stats())),
        _ => json_response(StatusCode::NOT_FOUND, json!({ "message": "Not Found" })),
    }
}

/// `POST /@gateway/schedules/{id}`: runs the schedule now, once; 200 with the function's
/// output, 502 if it failed, 404 for an unknown schedule, 409 for an ambiguous event name.
async fn run_schedule(app: &App, id: &str) -> Response {
    use crate::schedules::Lookup;
    let index = match crate::schedules::find(&app.template.schedules, id) {
        Ok(i) => i,
        Err(Lookup::Unknown) => {
            return json_response(
                StatusCode::NOT_FOUND,
                json!({ "message": format!("no schedule {id}") }),
            );
        }
        Err(Lookup::Ambiguous(ids)) => {
            return json_response(
                StatusCode::CONFLICT,
                json!({
                    "message": format!("several functions have a schedule {id}: name one as Function.Event"),
                    "candidates": ids,
                }),
            );
        }
    };
    match crate::schedules::run_now(app, index).await {
        Ok(out) => (StatusCode::OK, [("content-type", "application/json")], out).into_response(),
        Err(e) => {
            let error = match &e {
                InvokeError::Function(body) => {
                    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.clone()))
                }
                other => Value::String(other.to_string()),
            };
            json_response(
                StatusCode::BAD_GATEWAY,
                json!({ "message": format!("the run failed: {e}"), "error": error }),
            )
        }
    }
}

/// A refused handshake: the status, and API Gateway's own `{"message": ...}` body.
fn refuse(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    let message = match status.as_u16() {
        500 => "Internal server error",
        _ => status.canonical_reason().unwrap_or("Forbidden"),
    };
    json_response(status, json!({ "message": message }))
}

/// Whether a connection path is the stage's URL (`/dev`, `/dev/`; any path for `$default`).
fn is_stage_path(path: &str, stage: &str) -> bool {
    stage == "$default" || {
        let rest = path.strip_prefix('/').and_then(|p| p.strip_prefix(stage));
        matches!(rest, Some("" | "/"))
    }
}

async fn upgrade(app: Arc<App>, peer: SocketAddr, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    // A WebSocket API is reached at its stage's URL only.
    if !is_stage_path(parts.uri.path(), &app.template.websocket.stage) {
        return json_response(StatusCode::FORBIDDEN, json!({ "message": "Forbidden" }));
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rej) => return rej.into_response(),
    };
    // Over the account's connection rate: refused before `$connect` runs, as API Gateway does.
    if !app.throttle.admit(Kind::WsConnect) {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "message": "Too Many Requests" }),
        );
    }
    let headers = parts.headers;
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let connected_at = util::now_ms();
    let mut ctx = WsConnContext {
        connection_id: util::aws_short_id(),
        connected_at_ms: connected_at,
        source_ip: peer.ip().to_string(),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        domain_name: headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
            .to_string(),
        stage: app.template.websocket.stage.clone(),
        api_id: app.ws_api_id.clone(),
        authorizer: None,
    };

    if let Some(auth) = &app.template.websocket.connect_authorizer {
        match authorize(&app, auth, &ctx, &headers, &raw_query).await {
            Ok(a) => ctx.authorizer = Some(a),
            Err(status) => return refuse(status),
        }
    }

    let mut protocol: Option<String> = None;
    if let Some(func) = app.template.websocket.routes.get("$connect") {
        let event = ctx.connect_event(&headers, &raw_query);
        match app.invoke(func, event).await {
            Ok(payload) => {
                let status = ws_status(&payload);
                if !(200..300).contains(&status) {
                    // Without a route response on `$connect` API Gateway passes on the status
                    // only, not the function's body or headers.
                    return refuse(status);
                }
                protocol = serde_json::from_slice::<Value>(&payload)
                    .ok()
                    .and_then(|v| {
                        let h = v.get("headers")?.as_object()?;
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
                            .and_then(|(_, v)| v.as_str().map(str::to_string))
                    });
            }
            // A function error, a crash or a Lambda timeout.
            Err(_) => return refuse(500),
        }
    }

    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (close_tx, close_rx) = oneshot::channel();
    let conn = Arc::new(Conn {
        ctx,
        out: out_tx,
        close: Mutex::new(Some(close_tx)),
        last_active_ms: AtomicI64::new(connected_at),
    });
    let id = conn.ctx.connection_id.clone();
    if let Ok(mut c) = app.ws.conns.write() {
        c.insert(id.clone(), conn.clone());
    }
    app.ws.total_connections.fetch_add(1, Ordering::Relaxed);
    app.ws.active_tasks.fetch_add(1, Ordering::Relaxed);

    let limits = &app.cfg.limits;
    let mut ws = ws
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_frame_bytes);
    if let Some(p) = protocol {
        ws = ws.protocols([p]);
    }
    let app_failed = app.clone();
    let conn_failed = conn.clone();
    ws.on_failed_upgrade(move |_| {
        app_failed.ws.remove(&conn_failed.ctx.connection_id);
        tokio::spawn(async move {
            send_disconnect(&app_failed, &conn_failed, 1006, "").await;
            app_failed.ws.active_tasks.fetch_sub(1, Ordering::Relaxed);
        });
    })
    .on_upgrade(move |socket| run_connection(app, conn, socket, out_rx, close_rx))
}

/// Runs a REQUEST authorizer; `Err(status)` refuses the connection.
async fn authorize(
    app: &App,
    auth: &crate::template::AuthorizerSpec,
    ctx: &WsConnContext,
    headers: &HeaderMap,
    raw_query: &str,
) -> Result<Value, u16> {
    let query = util::parse_query(raw_query);
    for src in &auth.identity_sources {
        let present = if let Some(q) = src.strip_prefix("route.request.querystring.") {
            query
                .get(q)
                .is_some_and(|v| v.iter().any(|x| !x.is_empty()))
        } else if let Some(h) = src.strip_prefix("route.request.header.") {
            headers.get(h).is_some()
        } else {
            true
        };
        if !present {
            return Err(401);
        }
    }
    let payload = app
        .invoke(&auth.function, ctx.authorizer_event(headers, raw_query))
        .await
        .map_err(|e| match e {
            InvokeError::Function(m) if m.contains("Unauthorized") => 401u16,
            _ => 500u16,
        })?;
    let v: Value = serde_json::from_slice(&payload).map_err(|_| 500u16)?;
    let statements = v
        .pointer("/policyDocument/Statement")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let allowed = !statements.is_empty()
        && statements.iter().all(|s| {
            s.get("Effect")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case("allow"))
        });
    if !allowed {
        return Err(403);
    }
    let mut a = serde_json::Map::new();
    if let Some(Value::Object(c)) = v.get("context") {
        a.extend(c.clone());
    }
    a.insert(
        "principalId".into(),
        v.get("principalId").cloned().unwrap_or(Value::Null),
    );
    a.insert("integrationLatency".into(), json!(0));
    Ok(Value::Object(a))
}

fn is_capacity_error(e: &axum::Error) -> bool {
    let s = e.to_string();
    s.contains("Space limit exceeded") || s.contains("too long") || s.contains("too big")
}

async fn run_connection(
    app: Arc<App>,
    conn: Arc<Conn>,
    socket: WebSocket,
    mut out_rx: mpsc::UnboundedReceiver<Out>,
    mut close_rx: oneshot::Receiver<(u16, String)>,
) {
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(o) = out_rx.recv().await {
            let r = match o {
                Out::Text(s) => sink.send(Message::Text(s.into())).await,
                Out::Binary(b) => sink.send(Message::Binary(b)).await,
                Out::Close(code, reason) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        })))
                        .await;
                    break;
                }
                Out::Stop => break,
            };
            if r.is_err() {
                break;
            }
        }
    });

    let (msg_tx, msg_rx) = mpsc::unbounded_channel::<String>();
    let processor = tokio::spawn(process_messages(app.clone(), conn.clone(), msg_rx));

    let limits = app.cfg.limits.clone();
    let max_deadline = tokio::time::Instant::now() + limits.max_connection_duration;
    let close_with = |code: u16, reason: &str| {
        let _ = conn.out.send(Out::Close(code, reason.to_string()));
        (code, reason.to_string(), true)
    };
    let (code, reason, we_closed) = loop {
        tokio::select! {
            next = tokio::time::timeout(limits.idle_timeout, stream.next()) => match next {
                Err(_) => break close_with(1001, "Going away"),
                Ok(None) => break (1006, String::new(), false),
                Ok(Some(Err(e))) => {
                    if is_capacity_error(&e) {
                        break close_with(1009, "Message too big");
                    }
                    break (1006, String::new(), false);
                }
                Ok(Some(Ok(msg))) => {
                    conn.last_active_ms.store(util::now_ms(), Ordering::Relaxed);
                    match msg {
                        Message::Text(t) => {
                            if t.len() > limits.max_message_bytes {
                                break close_with(1009, "Message too big");
                            }
                            let _ = msg_tx.send(t.to_string());
                        }
                        Message::Binary(_) => break close_with(1003, "Binary frames are not supported"),
                        Message::Ping(_) | Message::Pong(_) => {}
                        Message::Close(frame) => {
                            let (c, r) = frame.map(|f| (f.code, f.reason.to_string())).unwrap_or((1005, String::new()));
                            break (c, r, false);
                        }
                    }
                }
            },
            _ = tokio::time::sleep_until(max_deadline) => break close_with(1001, "Going away"),
            r = &mut close_rx => {
                let (c, r) = r.unwrap_or((1001, "Going away".into()));
                break close_with(c, &r);
            }
        }
    };
    app.ws.remove(&conn.ctx.connection_id);
    if !we_closed {
        let _ = conn.out.send(Out::Stop);
    }
    // Let the close handshake finish (flushes tungstenite's automatic close reply) in the background.
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while stream.next().await.is_some() {}
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    });
    drop(msg_tx);
    let _ = processor.await;
    send_disconnect(&app, &conn, code, &reason).await;
    app.ws.active_tasks.fetch_sub(1, Ordering::Relaxed);
}

async fn send_disconnect(app: &App, conn: &Conn, code: u16, reason: &str) {
    if let Some(func) = app.template.websocket.routes.get("$disconnect") {
        let _ = app
            .invoke(func, conn.ctx.disconnect_event(code, reason))
            .await;
    }
}

/// Route key for a message: the body's selection value if it names a custom route, else `$default`.
pub(crate) fn select_route<'a>(
    routes: &'a BTreeMap<String, String>,
    expression: Option<&str>,
    body: &str,
) -> Option<&'a str> {
    let field = expression.and_then(|e| e.strip_prefix("$request.body."));
    if let Some(field) = field
        && let Ok(v) = serde_json::from_str::<Value>(body)
        && let Some(key) = field
            .split('.')
            .try_fold(&v, |v, k| v.get(k))
            .and_then(Value::as_str)
        && !key.starts_with('$')
        && let Some((k, _)) = routes.get_key_value(key)
    {
        return Some(k.as_str());
    }
    routes.get_key_value("$default").map(|(k, _)| k.as_str())
}

/// Invokes the route of each frame. API Gateway invokes the integration for every frame on its
/// own, so one connection's frames run concurrently and may finish out of order; with
/// `ordered_frames` they run one at a time (a debugging aid).
async fn process_messages(app: Arc<App>, conn: Arc<Conn>, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(body) = rx.recv().await {
        if app.cfg.ordered_frames {
            handle_frame(&app, &conn, &body).await;
        } else {
            let (app, conn) = (app.clone(), conn.clone());
            tokio::spawn(async move { handle_frame(&app, &conn, &body).await });
        }
    }
}

async fn handle_frame(app: &App, conn: &Conn, body: &str) {
    let ws = &app.template.websocket;
    let Some(route) = select_route(&ws.routes, ws.route_selection_expression.as_deref(), body)
    else {
        let _ = conn.out.send(Out::Text(
            json!({ "message": "Forbidden", "connectionId": conn.ctx.connection_id, "requestId": util::aws_short_id() }).to_string(),
        ));
        return;
    };
    // Over the account's request rate: the frame is dropped and the client told, as API Gateway
    // does; a client resends what was not acknowledged.
    if !app.throttle.admit(Kind::WsMessage) {
        let _ = conn.out.send(Out::Text(
            json!({ "message": "Too Many Requests", "connectionId": conn.ctx.connection_id, "requestId": util::aws_short_id() })
                .to_string(),
        ));
        return;
    }
    let func = &ws.routes[route];
    let event = conn.ctx.message_event(route, body);
    if app.invoke(func, event).await.is_err() {
        let _ = conn.out.send(Out::Text(
            json!({ "message": "Internal server error", "connectionId": conn.ctx.connection_id, "requestId": util::aws_short_id() })
                .to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stage_paths() {
        use super::is_stage_path;
        assert!(is_stage_path("/dev", "dev"));
        assert!(is_stage_path("/dev/", "dev"));
        assert!(!is_stage_path("/", "dev"));
        assert!(!is_stage_path("/dev/x", "dev"));
        assert!(!is_stage_path("/devx", "dev"));
        assert!(is_stage_path("/anything", "$default"));
    }
}
