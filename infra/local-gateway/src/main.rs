//! `local-gateway` command: `serve` the local API Gateway, or `create-table` in DynamoDB Local.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use local_gateway::{Faults, Gateway, GatewayConfig, TableOutcome, devstack};

const USAGE: &str = "\
Usage: local-gateway <command> [options]

Commands:
  serve          Create the table if missing, then serve the HTTP API and WebSocket API until Ctrl-C
  create-table   Create the table in DynamoDB Local as infra/template.yaml defines it

Options (environment variables in brackets):
  --http-port N            HTTP API port, default 3000 [HTTP_PORT]
  --ws-port N              WebSocket + Management API port, default 3001 [WS_PORT]
  --host IP                listen address, default 127.0.0.1
  --dynamodb-endpoint URL  default http://127.0.0.1:8000 [DYNAMODB_ENDPOINT]
  --aws-endpoint URL       AWS emulator (S3, SES v2, SNS, Secrets Manager) the functions use,
                           default none [AWS_EMULATOR_ENDPOINT]
  --table NAME             default community-local [TABLE_NAME]
  --region NAME            default us-east-1
  --template PATH          default infra/template.yaml of the workspace
  --bin-dir PATH           function binaries, default the target/debug this runs from
  --max-instances N        instances per function, default 10
  --parameter-overrides S  template parameters over their defaults, as sam deploy takes them:
                           'AllowedOrigins=http://127.0.0.1:5173 Stage=dev' [PARAMETER_OVERRIDES]
  --ordered-frames         handle one connection's frames one at a time, in order (debugging;
                           API Gateway runs them concurrently) [ORDERED_FRAMES=1]
  --env KEY=VALUE          function environment override (repeatable)
  --log-file PATH          write function output there instead of stderr
  --log-format FMT         AWS_LAMBDA_LOG_FORMAT of the functions (JSON or Text), default JSON
  --quiet                  discard function output
  --latency-ms N           Management API: added latency per call
  --fail-rate F            Management API: share of calls failed (0..1)
  --fail-status N          Management API: status of failed calls (410, 429, 500), default 500
  --connect-rate N         new WebSocket connections a second (and their burst), default 500
  --request-rate N         requests a second shared by HTTP, WebSocket messages and @connections
                           calls, default 10000; over it: 429
  --request-burst N        the shared bucket's burst, default 5000
  --no-throttle            no account throttles (0 for any rate turns that bucket off)
  --no-schedules           do not run the template's Schedule / ScheduleV2 events on their timers
                           (POST /@gateway/schedules/{name} still runs one) [NO_SCHEDULES=1]
  --no-create-table        serve: do not create the table
  --seed                   serve: seed demo data once started
";

struct Args {
    cmd: String,
    cfg: GatewayConfig,
    create_table: bool,
    seed: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let cmd = argv.next().ok_or("missing command")?;
    if matches!(cmd.as_str(), "-h" | "--help" | "help") {
        return Err(String::new());
    }
    let mut cfg = GatewayConfig::default();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let port = |v: &str| v.parse::<u16>().map_err(|_| format!("bad port {v}"));
    let mut http_port = env("HTTP_PORT")
        .map(|v| port(&v))
        .transpose()?
        .unwrap_or(3000);
    let mut ws_port = env("WS_PORT")
        .map(|v| port(&v))
        .transpose()?
        .unwrap_or(3001);
    if let Some(e) = env("DYNAMODB_ENDPOINT") {
        cfg.dynamodb_endpoint = e;
    }
    if let Some(e) = env("AWS_EMULATOR_ENDPOINT") {
        cfg.aws_endpoint = Some(e);
    }
    if let Some(t) = env("TABLE_NAME") {
        cfg.table_name = t;
    }
    if let Some(p) = env("PARAMETER_OVERRIDES") {
        cfg.parameter_overrides = local_gateway::parse_parameter_overrides(&p)?;
    }
    if env("ORDERED_FRAMES").is_some_and(|v| v != "0") {
        cfg.ordered_frames = true;
    }
    if env("NO_SCHEDULES").is_some_and(|v| v != "0") {
        cfg.run_schedules = false;
    }
    let mut host = [127, 0, 0, 1];
    let mut faults = Faults::default();
    let (mut create_table, mut seed) = (true, false);
    while let Some(flag) = argv.next() {
        let mut val = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--http-port" => http_port = port(&val()?)?,
            "--ws-port" => ws_port = port(&val()?)?,
            "--host" => {
                let v = val()?;
                let ip: std::net::Ipv4Addr = v.parse().map_err(|_| format!("bad host {v}"))?;
                host = ip.octets();
            }
            "--dynamodb-endpoint" => cfg.dynamodb_endpoint = val()?,
            "--aws-endpoint" => cfg.aws_endpoint = Some(val()?),
            "--table" => cfg.table_name = val()?,
            "--region" => cfg.region = val()?,
            "--template" => cfg.template = PathBuf::from(val()?),
            "--bin-dir" => cfg.bin_dir = PathBuf::from(val()?),
            "--parameter-overrides" => {
                let parsed = local_gateway::parse_parameter_overrides(&val()?)?;
                cfg.parameter_overrides.extend(parsed);
            }
            "--ordered-frames" => cfg.ordered_frames = true,
            "--max-instances" => {
                cfg.max_instances_per_function =
                    val()?.parse().map_err(|_| "bad --max-instances")?;
            }
            "--env" => {
                let v = val()?;
                let (k, v) = v.split_once('=').ok_or("--env needs KEY=VALUE")?;
                cfg.env_overrides.insert(k.to_string(), v.to_string());
            }
            "--log-file" => cfg.log_file = Some(PathBuf::from(val()?)),
            "--log-format" => cfg.log_format = Some(val()?),
            "--quiet" => cfg.quiet = true,
            "--latency-ms" => faults.latency_ms = val()?.parse().map_err(|_| "bad --latency-ms")?,
            "--fail-rate" => faults.fail_rate = val()?.parse().map_err(|_| "bad --fail-rate")?,
            "--fail-status" => {
                faults.fail_status = val()?.parse().map_err(|_| "bad --fail-status")?
            }
            "--connect-rate" => {
                cfg.throttles.connections_per_second =
                    val()?.parse().map_err(|_| "bad --connect-rate")?
            }
            "--request-rate" => {
                cfg.throttles.requests_per_second =
                    val()?.parse().map_err(|_| "bad --request-rate")?
            }
            "--request-burst" => {
                cfg.throttles.request_burst = val()?.parse().map_err(|_| "bad --request-burst")?
            }
            "--no-throttle" => cfg.throttles = local_gateway::Throttles::off(),
            "--no-schedules" => cfg.run_schedules = false,
            "--no-create-table" => create_table = false,
            "--seed" => seed = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !(0.0..=1.0).contains(&faults.fail_rate) {
        return Err("--fail-rate must be within 0..1".into());
    }
    cfg.faults = faults;
    cfg.http_addr = SocketAddr::from((host, http_port));
    cfg.ws_addr = SocketAddr::from((host, ws_port));
    Ok(Args {
        cmd,
        cfg,
        create_table,
        seed,
    })
}

async fn ensure_table(cfg: &GatewayConfig) -> Result<(), String> {
    let client = local_gateway::local_client(&cfg.dynamodb_endpoint, &cfg.region).await;
    let outcome =
        local_gateway::create_table_from_template(&client, &cfg.template, &cfg.table_name)
            .await
            .map_err(|e| {
                let hint = if e.to_string().contains("dispatch failure") {
                    format!(
                        " (is DynamoDB Local running at {}? scripts/dynamodb-local.sh start)",
                        cfg.dynamodb_endpoint
                    )
                } else {
                    String::new()
                };
                format!("{e}{hint}")
            })?;
    match outcome {
        TableOutcome::Created => eprintln!("created table {}", cfg.table_name),
        TableOutcome::AlreadyExisted => eprintln!("table {} exists", cfg.table_name),
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    match args.cmd.as_str() {
        "create-table" => ensure_table(&args.cfg).await,
        "serve" => {
            if args.create_table {
                ensure_table(&args.cfg).await?;
            }
            let gw = Gateway::start(args.cfg).await.map_err(|e| e.to_string())?;
            eprintln!("HTTP API:        {}", gw.http_url());
            eprintln!("WebSocket API:   {}", gw.ws_url());
            eprintln!(
                "Management API:  {}/@connections/{{id}}",
                gw.management_url()
            );
            eprintln!(
                "Gateway control: {}/@gateway/faults, {}/@gateway/stats",
                gw.management_url(),
                gw.management_url()
            );
            let schedules = &gw.template().schedules;
            if !schedules.is_empty() {
                eprintln!(
                    "Schedules:       {} ({}), GET {}/@gateway/schedules, POST {}/@gateway/schedules/{{name}} runs one now",
                    schedules.len(),
                    if gw.config().run_schedules {
                        "on their timers"
                    } else {
                        "timers off"
                    },
                    gw.management_url(),
                    gw.management_url()
                );
            }
            if args.seed {
                devstack::seed(&gw)
                    .await
                    .map_err(|e| format!("seed: {e}"))?;
            }
            wait_for_signal().await;
            eprintln!("shutting down");
            gw.shutdown().await;
            Ok(())
        }
        other => Err(format!("unknown command {other}; see local-gateway --help")),
    }
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GATEWAY_LOG")
                .unwrap_or_else(|_| "local_gateway=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprint!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
