//! A local implementation of the Lambda Runtime API (2018-06-01): the endpoints a function's
//! runtime client calls, with the headers the real service sends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, watch};

/// What the function answered for one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Vec<u8>),
    Error(Vec<u8>),
}

/// One finished invocation: when the event was handed out and when the answer arrived.
#[derive(Debug)]
pub struct Finished {
    pub id: String,
    pub outcome: Outcome,
    pub handed_out: Instant,
    pub answered: Instant,
}

struct State {
    events: Mutex<mpsc::Receiver<(String, Vec<u8>)>>,
    handed_out: Mutex<HashMap<String, Instant>>,
    results: mpsc::Sender<Finished>,
    /// Set at the first `next` request: the end of the init phase.
    first_next: watch::Sender<Option<Instant>>,
    init_error: watch::Sender<Option<String>>,
    function_arn: String,
}

/// A running Runtime API server.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    events: mpsc::Sender<(String, Vec<u8>)>,
    results: mpsc::Receiver<Finished>,
    first_next: watch::Receiver<Option<Instant>>,
    init_error: watch::Receiver<Option<String>>,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &'static str) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}

impl State {
    async fn route(self: Arc<Self>, req: Request<Incoming>) -> Result<Reply, Infallible> {
        let path = req.uri().path().to_owned();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        Ok(match (req.method(), parts.as_slice()) {
            (&Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => self.next().await,
            (&Method::POST, ["2018-06-01", "runtime", "invocation", id, kind]) => {
                let (id, kind) = ((*id).to_owned(), (*kind).to_owned());
                let body = read(req).await;
                self.finish(id, &kind, body).await
            }
            (&Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
                let body = read(req).await;
                self.init_error
                    .send_replace(Some(String::from_utf8_lossy(&body).into_owned()));
                reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
            }
            _ => reply(StatusCode::NOT_FOUND, r#"{"errorType":"NotFound"}"#),
        })
    }

    async fn next(&self) -> Reply {
        self.first_next.send_if_modified(|t| {
            if t.is_none() {
                *t = Some(Instant::now());
                return true;
            }
            false
        });
        let Some((id, event)) = self.events.lock().await.recv().await else {
            return reply(StatusCode::GONE, r#"{"errorType":"ShuttingDown"}"#);
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 30_000;
        let mut r = Response::new(Full::new(Bytes::from(event)));
        let h = r.headers_mut();
        let mut set = |k: &'static str, v: String| {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        };
        set("content-type", "application/json".into());
        set("lambda-runtime-aws-request-id", id.clone());
        set("lambda-runtime-deadline-ms", deadline.to_string());
        set(
            "lambda-runtime-invoked-function-arn",
            self.function_arn.clone(),
        );
        set(
            "lambda-runtime-trace-id",
            format!(
                "Root=1-00000000-{:024x};Parent=0000000000000000;Sampled=0",
                rand_id()
            ),
        );
        self.handed_out.lock().await.insert(id, Instant::now());
        r
    }

    async fn finish(&self, id: String, kind: &str, body: Vec<u8>) -> Reply {
        let answered = Instant::now();
        let Some(handed_out) = self.handed_out.lock().await.remove(&id) else {
            return reply(
                StatusCode::BAD_REQUEST,
                r#"{"errorType":"InvalidRequestID"}"#,
            );
        };
        let outcome = match kind {
            "response" => Outcome::Response(body),
            _ => Outcome::Error(body),
        };
        let _ = self
            .results
            .send(Finished {
                id,
                outcome,
                handed_out,
                answered,
            })
            .await;
        reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
    }
}

fn rand_id() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

async fn read(req: Request<Incoming>) -> Vec<u8> {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default()
}

impl RuntimeApi {
    pub async fn start(function_name: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (events_tx, events_rx) = mpsc::channel(1);
        let (results_tx, results_rx) = mpsc::channel(1);
        let (first_tx, first_rx) = watch::channel(None);
        let (init_tx, init_rx) = watch::channel(None);
        let state = Arc::new(State {
            events: Mutex::new(events_rx),
            handed_out: Mutex::new(HashMap::new()),
            results: results_tx,
            first_next: first_tx,
            init_error: init_tx,
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| state.clone().route(req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            events: events_tx,
            results: results_rx,
            first_next: first_rx,
            init_error: init_rx,
        })
    }

    /// Waits for the end of init (the first `next`), or an init error, up to `limit`.
    pub async fn wait_init(&mut self, limit: Duration) -> Result<Instant, String> {
        let mut first = self.first_next.clone();
        let mut init_error = self.init_error.clone();
        let wait = async {
            tokio::select! {
                r = first.wait_for(Option::is_some) => r.ok().and_then(|t| *t).ok_or_else(|| "runtime API closed".to_string()),
                r = init_error.wait_for(Option::is_some) => Err(r.ok().and_then(|e| e.clone()).unwrap_or_default()),
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .map_err(|_| "no `next` request: the function did not finish init".to_string())?
    }

    /// Hands out one event and waits for its answer.
    pub async fn invoke(
        &mut self,
        id: String,
        event: Vec<u8>,
        limit: Duration,
    ) -> Result<Finished, String> {
        self.events
            .send((id.clone(), event))
            .await
            .map_err(|_| "runtime API closed".to_string())?;
        let done = tokio::time::timeout(limit, self.results.recv())
            .await
            .map_err(|_| "the function did not answer in time".to_string())?
            .ok_or_else(|| "runtime API closed".to_string())?;
        if done.id != id {
            return Err(format!("answer for {} while waiting for {id}", done.id));
        }
        Ok(done)
    }
}
