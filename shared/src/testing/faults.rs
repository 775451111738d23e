//! A fault-injecting HTTP proxy in front of the local DynamoDB-compatible server: each request
//! is forwarded, or answered with a DynamoDB-shaped failure, as the test's plan says. Faults are
//! chosen per request by number and operation, so every run injects exactly the same ones.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pass it to the server and return the answer.
    Forward,
    /// 400 `ThrottlingException`, as DynamoDB sends when a table is throttled.
    Throttle,
    /// 500 `InternalServerError`.
    ServerError,
    /// Never answer (the client's timeout has to fire).
    Hang,
    /// Pass it to the server (so it takes effect), then answer 500 instead: a lost response.
    ForwardThenFail,
}

type Plan = dyn FnMut(usize, &str, &[Call]) -> Action + Send;
type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// A running proxy. `endpoint` goes in `AWS_ENDPOINT_URL_DYNAMODB` (or a store's config).
pub struct FaultProxy {
    pub endpoint: String,
    plan: Arc<Mutex<(usize, Box<Plan>)>>,
    calls: Arc<Mutex<Vec<Call>>>,
}

/// One DynamoDB request the proxy saw: its operation, table and index (for IAM checks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// `GetItem`, `UpdateItem`, ...
    pub operation: String,
    /// `TableName` of the request.
    pub table: String,
    /// `IndexName`, for a query of an index.
    pub index: Option<String>,
    /// The top-level attributes a write names (IAM's `dynamodb:Attributes`): a `PutItem`'s
    /// item, or an `UpdateItem`'s key and the attributes of its update and condition
    /// expressions. Empty for every other call.
    pub attributes: Vec<String>,
}

/// The top-level attribute names `fields` (a `PutItem` or an `UpdateItem` request) names.
fn attributes_of(operation: &str, fields: &serde_json::Value) -> Vec<String> {
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut names = match operation {
        "PutItem" => keys(&fields["Item"]),
        "UpdateItem" => keys(&fields["Key"]),
        _ => return Vec::new(),
    };
    let aliases = &fields["ExpressionAttributeNames"];
    for expression in ["UpdateExpression", "ConditionExpression"] {
        let text = fields[expression].as_str().unwrap_or_default();
        // A name is a run of word characters (or a #alias) not preceded by ':' (a value),
        // and not a keyword or function of the expression grammar.
        let mut token = String::new();
        let mut tokens = Vec::new();
        for c in text.chars().chain([' ']) {
            if c.is_alphanumeric() || c == '_' || c == '#' || c == ':' {
                token.push(c);
            } else if !token.is_empty() {
                tokens.push((std::mem::take(&mut token), c));
            }
        }
        for (token, next) in tokens {
            let keyword = matches!(
                token.to_ascii_uppercase().as_str(),
                "SET" | "ADD" | "REMOVE" | "DELETE" | "AND" | "OR" | "NOT" | "IN" | "BETWEEN"
            );
            if token.starts_with(':') || keyword || next == '(' {
                continue;
            }
            let name = match token.strip_prefix('#') {
                Some(_) => aliases[&token].as_str().unwrap_or_default().to_owned(),
                None => token,
            };
            if !name.chars().all(|c| c.is_ascii_digit()) {
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The calls one request makes, as IAM sees them: a transaction is one call per item, each
/// needing its own action (`Update` is `UpdateItem`, `ConditionCheck` is `ConditionCheckItem`).
fn calls_in(operation: &str, fields: &serde_json::Value) -> Vec<Call> {
    let call = |operation: String, fields: &serde_json::Value| Call {
        attributes: attributes_of(&operation, fields),
        operation,
        table: fields["TableName"].as_str().unwrap_or_default().to_owned(),
        index: fields["IndexName"].as_str().map(str::to_owned),
    };
    if !operation.starts_with("Transact") {
        return vec![call(operation.to_owned(), fields)];
    }
    let items = fields["TransactItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item.as_object()?.iter().next())
        .map(|(kind, fields)| {
            let action = match kind.as_str() {
                "ConditionCheck" => "ConditionCheckItem".to_owned(),
                "Get" => "GetItem".to_owned(),
                other => format!("{other}Item"),
            };
            call(action, fields)
        })
        .collect()
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) that forwards everything until told
    /// otherwise.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let plan: Arc<Mutex<(usize, Box<Plan>)>> =
            Arc::new(Mutex::new((0, Box::new(|_, _, _| Action::Forward))));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let upstream = Arc::new(upstream.trim_end_matches('/').to_owned());
        let shared_plan = plan.clone();
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let shared_calls = calls.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream, plan, calls) = (
                    client.clone(),
                    upstream.clone(),
                    shared_plan.clone(),
                    shared_calls.clone(),
                );
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (client, upstream, plan, calls) = (
                            client.clone(),
                            upstream.clone(),
                            plan.clone(),
                            calls.clone(),
                        );
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                handle(&client, &upstream, &plan, &calls, req).await,
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            endpoint: format!("http://{addr}"),
            plan,
            calls,
        }
    }

    /// Sets the plan: called with the request's number (from 0, counted from this call) and its
    /// DynamoDB operation (`PutItem`, `UpdateItem`, ...).
    pub fn plan(&self, mut plan: impl FnMut(usize, &str) -> Action + Send + 'static) {
        self.plan_calls(move |n, operation, _| plan(n, operation));
    }

    /// [`FaultProxy::plan`] that also sees the calls the request makes (their tables), to fault
    /// one table's requests only.
    pub fn plan_calls(&self, plan: impl FnMut(usize, &str, &[Call]) -> Action + Send + 'static) {
        *self.plan.lock().unwrap() = (0, Box::new(plan));
    }

    /// Every `GetItem` of `table` gets a 500 (on every retry); everything else passes.
    pub fn fail_reads_of(&self, table: &str) {
        let table = table.to_owned();
        self.plan_calls(move |_, operation, calls| {
            if operation == "GetItem" && calls.iter().any(|c| c.table == table) {
                Action::ServerError
            } else {
                Action::Forward
            }
        });
    }

    /// Every request gets `action`.
    pub fn always(&self, action: Action) {
        self.plan(move |_, _| action);
    }

    /// The calls seen so far (each once, in order of arrival, retries not counted again), and
    /// forgets them.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

async fn handle(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    plan: &Mutex<(usize, Box<Plan>)>,
    calls: &Mutex<Vec<Call>>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("")
        .to_owned();
    // The body is read whole, to note the table (and index) the request is for.
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let fields: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let these = calls_in(&operation, &fields);
    // A retry is the same call again (the SDK retries a 5xx, a throttle or a dropped
    // connection on its own): the calls are what the code asked for, once each.
    if attempt(&parts.headers) <= 1 {
        calls.lock().unwrap().extend(these.iter().cloned());
    }
    let mut req = Request::from_parts(parts, Full::new(body));
    let action = {
        let mut guard = plan.lock().unwrap();
        let (count, decide) = &mut *guard;
        let action = decide(*count, &operation, &these);
        *count += 1;
        action
    };
    match action {
        Action::Throttle => dynamodb_error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        Action::ServerError => dynamodb_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal server error",
        ),
        Action::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            dynamodb_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "late",
            )
        }
        Action::Forward | Action::ForwardThenFail => {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_owned();
            *req.uri_mut() = format!("{upstream}{path}").parse().unwrap();
            let answer = client.request(req).await;
            match (action, answer) {
                (Action::Forward, Ok(r)) => r.map(|b| b.boxed()),
                (_, Ok(r)) => {
                    // Let the write land completely before losing its answer.
                    let _ = r.into_body().collect().await;
                    dynamodb_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalServerError",
                        "Internal server error",
                    )
                }
                (_, Err(_)) => {
                    dynamodb_error(StatusCode::BAD_GATEWAY, "InternalServerError", "proxy")
                }
            }
        }
    }
}

/// Which attempt of its call a request is, from the SDK's `amz-sdk-request: attempt=N; max=M`
/// header (1 without one).
fn attempt(headers: &hyper::HeaderMap) -> u32 {
    headers
        .get("amz-sdk-request")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(';')
                .find_map(|part| part.trim().strip_prefix("attempt="))
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// An error answer in DynamoDB's JSON protocol shape, which the SDK parses into its error types.
fn dynamodb_error(status: StatusCode, kind: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.0".parse().unwrap(),
    );
    response
        .headers_mut()
        .insert("x-amzn-errortype", kind.parse().unwrap());
    response
}
