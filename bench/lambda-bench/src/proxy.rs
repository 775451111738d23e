//! A counting HTTP proxy in front of the local DynamoDB-compatible server: each request a
//! function sends is one DynamoDB round trip.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

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

/// What the proxy saw since the last [`Counters::take`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    /// DynamoDB requests.
    pub requests: u64,
    /// Sequential round trips: requests sent while none was in flight start a new wave;
    /// requests sent concurrently share one.
    pub waves: u64,
    /// Wall time with at least one request in flight: what the function spent waiting for
    /// DynamoDB, however its requests overlapped (the local server answers one at a time).
    pub busy_micros: u64,
}

#[derive(Default)]
pub struct Counters {
    requests: AtomicU64,
    waves: AtomicU64,
    /// Requests in flight, and since when at least one has been.
    in_flight: Mutex<(u64, Option<Instant>)>,
    busy_micros: AtomicU64,
}

impl Counters {
    /// What was seen since the last call, then zero.
    pub fn take(&self) -> Seen {
        Seen {
            requests: self.requests.swap(0, Ordering::SeqCst),
            waves: self.waves.swap(0, Ordering::SeqCst),
            busy_micros: self.busy_micros.swap(0, Ordering::SeqCst),
        }
    }

    /// A request arrives: the first of a wave starts it, and the busy clock.
    fn arrived(&self) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if in_flight.0 == 0 {
            self.waves.fetch_add(1, Ordering::SeqCst);
            in_flight.1 = Some(Instant::now());
        }
        in_flight.0 += 1;
    }

    /// A request is answered: the last in flight stops the busy clock.
    fn answered(&self) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.0 = in_flight.0.saturating_sub(1);
        if in_flight.0 == 0
            && let Some(since) = in_flight.1.take()
        {
            self.busy_micros
                .fetch_add(since.elapsed().as_micros() as u64, Ordering::SeqCst);
        }
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Starts the proxy to `target` (`host:port`); returns its address and counters.
pub async fn start(target: String) -> std::io::Result<(SocketAddr, Arc<Counters>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build_http();
    let (c, t) = (counters.clone(), Arc::new(target));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (client, counters, target) = (client.clone(), c.clone(), t.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (client, counters, target) =
                        (client.clone(), counters.clone(), target.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            forward(&client, &counters, &target, req).await,
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, counters))
}

async fn forward(
    client: &Client<HttpConnector, Incoming>,
    counters: &Counters,
    target: &str,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    counters.arrived();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let Ok(uri) = format!("http://{target}{path}").parse() else {
        counters.answered();
        return bad_gateway();
    };
    *req.uri_mut() = uri;
    // The whole answer is read before the request counts as answered, so the busy time holds
    // the body's transfer too.
    let response = match client.request(req).await {
        Ok(r) => {
            let (head, body) = r.into_parts();
            match body.collect().await {
                Ok(bytes) => Response::from_parts(
                    head,
                    Full::new(bytes.to_bytes())
                        .map_err(|never| match never {})
                        .boxed(),
                ),
                Err(_) => bad_gateway(),
            }
        }
        Err(_) => bad_gateway(),
    };
    counters.requests.fetch_add(1, Ordering::SeqCst);
    counters.answered();
    response
}

fn bad_gateway() -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(b"proxy error"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}
