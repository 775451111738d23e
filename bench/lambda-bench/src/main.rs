//! `make bench`: runs each function's release binary under a local Lambda Runtime API (no
//! Docker), the way the Lambda service does, and reports init time, warm latency, peak memory,
//! DynamoDB round trips and binary size, init and memory also as a ratio to the `floor` function
//! measured in the same run. `--check` exits non-zero when a target of the performance issue is
//! missed.
//!
//! Expects: release binaries in `target/release` (or `--bin-dir`), the local DynamoDB-compatible
//! server at `AWS_ENDPOINT_URL_DYNAMODB` with the tables named by `USERS_TABLE`,
//! `RATE_LIMIT_TABLE` and `SESSIONS_TABLE` (scripts/bench.sh sets all of this up).

mod proxy;
mod runtime_api;
mod scenario;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use runtime_api::{Outcome, RuntimeApi};
use scenario::{Prep, Scenario};

/// Figures for one function.
#[derive(Debug, Clone, Default)]
struct Figures {
    name: String,
    size: u64,
    zipped: u64,
    init_us: u64,
    warm_us: Vec<u64>,
    peak_rss_kib: u64,
    /// DynamoDB requests per invocation.
    round_trips: Vec<u64>,
    /// Sequential DynamoDB waves per invocation.
    waves: Vec<u64>,
    /// Per invocation, the wall time with a DynamoDB request in flight.
    busy_us: Vec<u64>,
    /// Links an AWS SDK (DynamoDB or Secrets Manager).
    sdk: bool,
    /// Another scenario of a binary measured in its own row (its init and size are that
    /// binary's).
    variant: bool,
    /// Init with the keys read as deployed (`Prep::deployed_env`), and the AWS requests made
    /// during it (a variant row's are its binary's, and it is left out of that table).
    deployed_init_us: u64,
    init_calls: u64,
}

impl Figures {
    fn pct(&self, p: f64) -> u64 {
        let mut v = self.warm_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(i).copied().unwrap_or(0)
    }
    fn median(&self) -> u64 {
        self.pct(0.5)
    }
    fn rt_max(&self) -> u64 {
        self.round_trips.iter().copied().max().unwrap_or(0)
    }
    fn waves_max(&self) -> u64 {
        self.waves.iter().copied().max().unwrap_or(0)
    }
    /// The sequential round trips of a typical invocation (the median), and how the others
    /// strayed above it. The code's waves are fixed (`tokio::join!`), but on this 2-core
    /// machine a request can reach the proxy only after the rest of its wave was answered,
    /// when the function is descheduled between sending them: the proxy then counts one more.
    /// A code path with an extra round trip shows in every invocation that takes it, so in
    /// the median of a row whose invocations are all alike.
    fn waves_typical(&self) -> (u64, String) {
        let typical = median(self.waves.clone());
        let above = self.waves.iter().filter(|w| **w > typical).count();
        let note = match above {
            0 => String::new(),
            n => format!(
                "; {n} of {} invocations counted up to {} when a request reached the proxy \
                 after the rest of its wave was answered",
                self.waves.len(),
                self.waves_max()
            ),
        };
        (typical, note)
    }
    /// Median over invocations of the time not spent waiting for DynamoDB.
    fn off_dynamo_median(&self) -> u64 {
        self.off_dynamo_median_of(|_| true)
    }
    /// [`Self::off_dynamo_median`] over the invocations whose index `pick` takes.
    fn off_dynamo_median_of(&self, pick: impl Fn(usize) -> bool) -> u64 {
        median(
            self.warm_us
                .iter()
                .zip(&self.busy_us)
                .enumerate()
                .filter(|(i, _)| pick(*i))
                .map(|(_, (warm, busy))| warm.saturating_sub(*busy))
                .collect(),
        )
    }
    /// Median over invocations of the time spent waiting for DynamoDB.
    fn busy_median(&self) -> u64 {
        median(self.busy_us.clone())
    }
}

struct Args {
    invocations: usize,
    only: Option<Vec<String>>,
    check: bool,
    bin_dir: PathBuf,
    sizes: Option<PathBuf>,
    /// Extra `KEY=VALUE` settings for every function, for experiments (`--env`).
    extra_env: Vec<(String, String)>,
    /// Only time argon2id hashing at the configured parameters (`--argon2`).
    argon2_only: bool,
    /// Cold starts per init figure, whose median is reported (`--cold-starts`): one start of a
    /// few milliseconds is at the mercy of whatever else the machine is doing. With 11, the
    /// floor's own binary still read 0.83x the floor in one run; with 31, `floor-sdk` read
    /// 1.32-1.44x across runs, where 300-400 alternating starts place it within 0.02x. 101 take
    /// about a minute and a half.
    cold_starts: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        invocations: 200,
        only: None,
        check: false,
        bin_dir: PathBuf::from("target/release"),
        sizes: None,
        extra_env: Vec::new(),
        argon2_only: false,
        cold_starts: 101,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--invocations" | "-n" => {
                args.invocations = value()?
                    .parse()
                    .map_err(|_| "--invocations takes a number")?
            }
            "--only" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--check" => args.check = true,
            "--cold-starts" => {
                args.cold_starts = value()?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--cold-starts takes a positive number")?
            }
            "--argon2" => args.argon2_only = true,
            "--bin-dir" => args.bin_dir = PathBuf::from(value()?),
            "--sizes" => args.sizes = Some(PathBuf::from(value()?)),
            "--env" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or("--env takes KEY=VALUE")?;
                args.extra_env.push((k.to_owned(), v.to_owned()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Size of the file and of its deflate stream (what a zip of it holds, give or take headers).
fn sizes(path: &Path) -> std::io::Result<(u64, u64)> {
    let bytes = std::fs::read(path)?;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&bytes)?;
    let zipped = enc.finish()?.len() as u64;
    Ok((bytes.len() as u64, zipped))
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// A row's init figures: the median of its cold starts with the keys from a file, the median
/// with the keys read as deployed, and the most AWS requests one of the latter made.
#[derive(Clone, Copy, Default)]
struct Inits {
    init_us: u64,
    deployed_init_us: u64,
    init_calls: u64,
}

/// Every binary's cold starts, interleaved: round after round, one start of each, then one of
/// each with the keys read as deployed, each round beginning one binary further on. This machine's
/// speed drifts by a third within a run; measuring one binary's starts after another's would
/// read that drift as a difference between them (the floor's own binary, measured twice that
/// way, once read 1.83x the floor). A start also runs faster right after one of the same
/// binary, so each binary is started once per round, and a row that runs another row's binary
/// (the `login-*` rows) shows that binary's figures.
async fn all_inits(rows: &[Scenario], prep: &Prep, args: &Args) -> Result<Vec<Inits>, String> {
    let proxy_addr = prep.proxy_addr.clone();
    // The first row of each binary stands for it.
    let mut binaries: Vec<&Scenario> = Vec::new();
    for s in rows {
        if !binaries.iter().any(|b| b.name == s.name) {
            binaries.push(s);
        }
    }
    let n = binaries.len();
    let mut file = vec![Vec::with_capacity(args.cold_starts); n];
    let mut deployed = vec![Vec::with_capacity(args.cold_starts); n];
    let mut calls = vec![0; n];
    for round in 0..args.cold_starts {
        let order = || (0..n).map(move |k| (k + round) % n);
        for k in order() {
            let s = binaries[k];
            let path = args.bin_dir.join(s.name);
            let mut api = RuntimeApi::start(s.name).await.map_err(|e| e.to_string())?;
            let mut env = prep.lambda_env(s, &api.addr.to_string(), &proxy_addr);
            env.extend(args.extra_env.iter().cloned());
            let (mut child, init_us) = cold_start(s.name, &path, env, &mut api).await?;
            let _ = child.kill().await;
            file[k].push(init_us);
        }
        for k in order() {
            let s = binaries[k];
            let path = args.bin_dir.join(s.name);
            let mut api = RuntimeApi::start(s.name).await.map_err(|e| e.to_string())?;
            let env = prep.deployed_env(s, &api.addr.to_string(), &proxy_addr);
            prep.counters.take();
            let (mut child, init_us) = cold_start(s.name, &path, env, &mut api).await?;
            calls[k] = calls[k].max(prep.counters.take().requests);
            let _ = child.kill().await;
            deployed[k].push(init_us);
        }
    }
    let per_binary: Vec<Inits> = file
        .into_iter()
        .zip(deployed)
        .zip(calls)
        .map(|((file, deployed), init_calls)| Inits {
            init_us: median(file),
            deployed_init_us: median(deployed),
            init_calls,
        })
        .collect();
    rows.iter()
        .map(|s| {
            binaries
                .iter()
                .position(|b| b.name == s.name)
                .map(|k| per_binary[k])
                .ok_or(format!("{}: no init figures", s.label))
        })
        .collect()
}

/// A running function, between invocations.
struct Live {
    scenario: Scenario,
    api: RuntimeApi,
    child: tokio::process::Child,
}

impl Live {
    /// Starts the row's binary with the keys from a file, and waits for its init.
    async fn start(scenario: Scenario, prep: &Prep, args: &Args) -> Result<Self, String> {
        let path = args.bin_dir.join(scenario.name);
        let mut api = RuntimeApi::start(scenario.name)
            .await
            .map_err(|e| e.to_string())?;
        let mut env = prep.lambda_env(&scenario, &api.addr.to_string(), &prep.proxy_addr);
        env.extend(args.extra_env.iter().cloned());
        let (child, _) = cold_start(scenario.name, &path, env, &mut api).await?;
        Ok(Self {
            scenario,
            api,
            child,
        })
    }

    /// Invocation `i`: its event is made outside the timing, its answer checked; the time from
    /// handing the event out to the answer, and the DynamoDB traffic it made.
    async fn invoke(&mut self, prep: &Prep, i: usize) -> Result<(u64, proxy::Seen), String> {
        let name = self.scenario.label;
        let event = self.scenario.event(prep, i).await?;
        prep.counters.take();
        let done = self
            .api
            .invoke(format!("{name}-{i}"), event, Duration::from_secs(30))
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        let seen = prep.counters.take();
        let body = match done.outcome {
            Outcome::Response(b) => b,
            Outcome::Error(b) => {
                return Err(format!(
                    "{name}: invocation error: {}",
                    String::from_utf8_lossy(&b)
                ));
            }
        };
        self.scenario.check_response(&body)?;
        let warm = done.answered.duration_since(done.handed_out).as_micros() as u64;
        Ok((warm, seen))
    }
}

/// A row's warm run: its invocations one after the other, on one process.
async fn measure(s: Scenario, inits: Inits, prep: &Prep, args: &Args) -> Result<Figures, String> {
    let path = args.bin_dir.join(s.name);
    let (size, zipped) =
        sizes(&path).map_err(|e| format!("{}: {e} (run `make bench`)", path.display()))?;
    let invocations = args.invocations;
    let mut live = Live::start(s, prep, args).await?;
    let mut warm_us = Vec::with_capacity(invocations);
    let mut round_trips = Vec::with_capacity(invocations);
    let mut waves = Vec::with_capacity(invocations);
    let mut busy_us = Vec::with_capacity(invocations);
    for i in 0..invocations {
        let (warm, seen) = live.invoke(prep, i).await?;
        warm_us.push(warm);
        round_trips.push(seen.requests);
        waves.push(seen.waves);
        busy_us.push(seen.busy_micros);
    }
    let peak = peak_rss_kib(live.child.id().unwrap_or(0));
    let _ = live.child.kill().await;
    let s = &live.scenario;
    Ok(Figures {
        name: s.label.to_owned(),
        size,
        zipped,
        init_us: inits.init_us,
        warm_us,
        peak_rss_kib: peak,
        round_trips,
        waves,
        busy_us,
        sdk: s.uses_sdk(),
        variant: s.label != s.name,
        deployed_init_us: inits.deployed_init_us,
        init_calls: inits.init_calls,
    })
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Starts the binary at `path` with only `env`, as a Lambda sandbox does, and waits for its
/// first `/next`: the process and its init time.
async fn cold_start(
    name: &str,
    path: &Path,
    env: Vec<(String, String)>,
    api: &mut RuntimeApi,
) -> Result<(tokio::process::Child, u64), String> {
    let mut cmd = tokio::process::Command::new(path);
    cmd.env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("{name}: {e}"))?;
    let init_done = api
        .wait_init(Duration::from_secs(20))
        .await
        .map_err(|e| format!("{name}: init failed: {e}"))?;
    Ok((child, init_done.duration_since(started).as_micros() as u64))
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        return "-".into();
    }
    format!("{:.2}x", a as f64 / b as f64)
}

fn print_table(all: &[Figures], floor: &Figures) {
    println!(
        "{:<11} {:>9} {:>9} {:>16} {:>12} {:>9} {:>9} {:>15} {:>7} {:>6}",
        "function",
        "size KiB",
        "zip KiB",
        "init ms",
        "warm med ms",
        "min ms",
        "p99 ms",
        "peak RSS MiB",
        "ddb req",
        "waves"
    );
    for f in all {
        println!(
            "{:<11} {:>9} {:>9} {:>16} {:>12} {:>9} {:>9} {:>15} {:>7} {:>6}",
            f.name,
            f.size / 1024,
            f.zipped / 1024,
            format!("{} ({})", ms(f.init_us), ratio(f.init_us, floor.init_us)),
            ms(f.median()),
            ms(f.pct(0.0)),
            ms(f.pct(0.99)),
            format!(
                "{:.1} ({})",
                f.peak_rss_kib as f64 / 1024.0,
                ratio(f.peak_rss_kib, floor.peak_rss_kib)
            ),
            f.rt_max(),
            f.waves_max(),
        );
    }
    println!(
        "(init: medians of cold starts taken round-robin over the binaries, a row that runs \
         another's binary shows that binary's; warm: over each row's own invocations, one after \
         the other)"
    );
}

fn print_deployed_init(all: &[Figures], floor: &Figures) {
    println!(
        "\ninit with the keys read as deployed (signing functions fetch the key secret from a local \
         Secrets Manager; verify-only ones get JWT_PUBLIC_KEYS, as `make deploy` sets it):"
    );
    println!(
        "{:<20} {:>16} {:>18}",
        "function", "init ms", "AWS calls at init"
    );
    for f in all.iter().filter(|f| !f.variant) {
        println!(
            "{:<20} {:>16} {:>18}",
            f.name,
            format!(
                "{} ({})",
                ms(f.deployed_init_us),
                ratio(f.deployed_init_us, floor.deployed_init_us)
            ),
            f.init_calls
        );
    }
}

/// The targets of the performance issue, as (what, pass). `argon2_kib` is the memory one hash
/// uses.
fn checks(
    all: &[Figures],
    floor: &Figures,
    argon2_us: u64,
    argon2_kib: u64,
) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let find = |n: &str| all.iter().find(|f| f.name == n);
    for name in ["protected", "jwks"] {
        let Some(p) = find(name) else { continue };
        for (what, a, b, most) in [
            ("init", p.init_us, floor.init_us, 1.3),
            ("peak RSS", p.peak_rss_kib, floor.peak_rss_kib, 1.5),
        ] {
            out.push((
                format!("{name} {what} {} <= {most}x floor", ratio(a, b)),
                a as f64 <= most * b as f64,
            ));
        }
        out.push((
            format!("{name} AWS calls at init as deployed {} == 0", p.init_calls),
            p.init_calls == 0,
        ));
    }
    // `floor-sdk` is the floor plus the set-up every SDK function makes: beside an SDK
    // function's ratio it tells the SDK's share from the function's own.
    let sdk_floor = find("floor-sdk");
    for f in all
        .iter()
        .filter(|f| !Scenario::is_reference(&f.name) && !f.variant)
    {
        // A function with an AWS SDK client is held to the floor with that client
        // (`floor-sdk`): what the SDK costs at init is the same for all of them, and not the
        // function's own (since the SDK's own TLS and libm loading are no longer worked around,
        // it moved every SDK row by about 0.1 x the plain floor).
        let (base, base_name, most) = match sdk_floor {
            Some(sdk) if f.sdk => (sdk, "floor-sdk", 1.25),
            _ => (floor, "floor", 1.5),
        };
        out.push((
            format!(
                "{} init {} <= {most}x {base_name} (keys from a file; {} the floor; with the \
                 fetch: {})",
                f.name,
                ratio(f.init_us, base.init_us),
                ratio(f.init_us, floor.init_us),
                ratio(f.deployed_init_us, floor.deployed_init_us)
            ),
            f.init_us as f64 <= most * base.init_us as f64,
        ));
    }
    for name in ["register", "login"] {
        let Some(f) = find(name) else { continue };
        let most = argon2_kib + 24 * 1024;
        out.push((
            format!(
                "{name} peak RSS {:.1} MiB <= argon2 memory + 24 MiB = {:.1} MiB",
                f.peak_rss_kib as f64 / 1024.0,
                most as f64 / 1024.0
            ),
            f.peak_rss_kib <= most,
        ));
    }
    // The session checks: one consistent read each, and GET /sessions one Query after it (a
    // full page of a user at the session cap: 100 sessions, one query of 101 index items).
    for (name, most) in [
        ("authorizer", 1),
        ("protected-session", 1),
        ("list-sessions", 2),
    ] {
        if let Some(f) = find(name) {
            let (waves, note) = f.waves_typical();
            out.push((
                format!(
                    "{name} sequential DynamoDB round trips {waves} <= {most} ({} requests{note})",
                    f.rt_max()
                ),
                waves <= most && f.rt_max() <= most,
            ));
        }
    }
    // The second factor of a login: two sequential round trips (the challenge, the user and
    // the failure slots at once; then one transaction beside giving the slots back), and no
    // argon2 hash: off DynamoDB it takes less than half of one hash in-process.
    if let Some(m) = find("login-mfa") {
        let (waves, note) = m.waves_typical();
        out.push((
            format!(
                "login-mfa sequential DynamoDB round trips {waves} <= 2 ({} requests{note})",
                m.rt_max()
            ),
            waves <= 2,
        ));
        out.push((
            format!(
                "login-mfa off DynamoDB {} ms < half an argon2 hash ({} ms in-process): no hash",
                ms(m.off_dynamo_median()),
                ms(argon2_us)
            ),
            2 * m.off_dynamo_median() < argon2_us,
        ));
    }
    if let Some(l) = find("login") {
        let (waves, note) = l.waves_typical();
        out.push((
            format!(
                "login sequential DynamoDB round trips {waves} <= 2 ({} requests{note})",
                l.rt_max()
            ),
            waves <= 2,
        ));
        // Off DynamoDB, a login is one argon2 verification and little else, like a refused
        // one: measured against the refused one in the same run (the in-process argon2 figure
        // moves by a third between runs here), a second hash (a rehash every time, say)
        // would double it.
        if let Some(refused) = find("login-unknown") {
            let (ok, no) = (l.off_dynamo_median(), refused.off_dynamo_median());
            out.push((
                format!(
                    "login off DynamoDB {} ms (warm {} ms, waiting for DynamoDB {} ms) <= 1.5x \
                     a refused login's {} ms (one argon2 hash: {} ms in-process)",
                    ms(ok),
                    ms(l.median()),
                    ms(l.busy_median()),
                    ms(no),
                    ms(argon2_us)
                ),
                ok as f64 <= 1.5 * no as f64,
            ));
        }
    }
    // The two 401s send the same DynamoDB requests (the counts are printed), and the local
    // server, answering one request at a time from Python, makes their wait the noisiest part
    // of a call. What the function itself spends is compared (the argon2 verification and its
    // own work), over one row that alternates the two (`login-401s`): this machine's speed
    // drifts by a third within a run, which two rows measured one after the other would
    // read as a difference.
    if let Some(both) = find("login-401s") {
        let a = both.off_dynamo_median_of(|i| i % 2 == 0);
        let b = both.off_dynamo_median_of(|i| i % 2 == 1);
        let gap = (a as f64 - b as f64).abs() / a.min(b).max(1) as f64;
        let requests = |f: Option<&Figures>| f.map_or(0, Figures::rt_max);
        out.push((
            format!(
                "login 401s off DynamoDB, alternating: wrong password {} ms vs unknown user {} \
                 ms, {:.1}% apart <= 10% (at most {} and {} requests in rows login-wrong and \
                 login-unknown)",
                ms(a),
                ms(b),
                gap * 100.0,
                requests(find("login-wrong")),
                requests(find("login-unknown"))
            ),
            gap <= 0.10,
        ));
    }
    // `/password/forgot` answers alike for a verified, an unverified and an unknown address;
    // only the first waits for SES, and the others wait as long (`password_forgot::pace`).
    // Their DynamoDB requests are the same (the fault tests compare them), so what the
    // function spends besides is compared, over one row that takes the three in turn.
    if let Some(forgot) = find("forgot-3") {
        let medians: Vec<u64> = (0..3)
            .map(|case| forgot.off_dynamo_median_of(|i| i % 3 == case))
            .collect();
        let (low, high) = (
            medians.iter().copied().min().unwrap_or(0),
            medians.iter().copied().max().unwrap_or(0),
        );
        // Within a tenth, or within a millisecond (Lambda's billing unit, far below the
        // jitter of any network path a client times the answer over): locally SES answers in
        // about 3 ms, where a tenth is a third of a millisecond.
        let gap = (high - low) as f64 / low.max(1) as f64;
        let close = gap <= 0.10 || high - low <= 1000;
        let each: Vec<String> = scenario::FORGOT_CASES
            .iter()
            .zip(&medians)
            .map(|(case, m)| format!("{case} {} ms", ms(*m)))
            .collect();
        out.push((
            format!(
                "password-forgot off DynamoDB, in turn: {}, {:.1}% ({} ms) apart <= 10% or 1 ms \
                 (at most {} requests)",
                each.join(", "),
                gap * 100.0,
                ms(high - low),
                forgot.rt_max()
            ),
            close,
        ));
    }
    if let Some(r) = find("register") {
        let (waves, note) = r.waves_typical();
        out.push((
            format!(
                "register sequential DynamoDB round trips {waves} <= 2 ({} requests{note})",
                r.rt_max()
            ),
            waves <= 2,
        ));
    }
    for f in all
        .iter()
        .filter(|f| !Scenario::is_reference(&f.name) && !f.variant)
    {
        let limit = if f.sdk { 3 * 1024 * 1024 } else { 1536 * 1024 };
        out.push((
            format!(
                "{} zipped {} KiB <= {} KiB",
                f.name,
                f.zipped / 1024,
                limit / 1024
            ),
            f.zipped <= limit,
        ));
    }
    out
}

fn print_sizes(dir: &Path) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bootstrap"))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    println!("{:<20} {:>10} {:>10}", "function", "size KiB", "zip KiB");
    for p in entries {
        let (size, zipped) = sizes(&p).map_err(|e| e.to_string())?;
        let name = p
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!("{:<20} {:>10} {:>10}", name, size / 1024, zipped / 1024);
    }
    Ok(())
}

async fn run() -> Result<bool, String> {
    let args = parse_args()?;
    if let Some(dir) = &args.sizes {
        print_sizes(dir)?;
        return Ok(true);
    }
    if args.argon2_only {
        let us = scenario::argon2_hash_us(
            shared::config::Argon2Config::from_vars(&shared::config::Vars::env())
                .map_err(|e| e.to_string())?,
            15,
        )
        .await?;
        println!("argon2id median hash: {} ms", ms(us));
        return Ok(true);
    }
    let prep = Prep::new().await?;
    let argon2_us = prep.argon2_hash_us().await?;
    let rows: Vec<Scenario> = scenario::all()
        .into_iter()
        .filter(|s| {
            Scenario::is_reference(s.name)
                || args
                    .only
                    .as_ref()
                    .is_none_or(|o| o.iter().any(|n| n == s.name))
        })
        .collect();
    eprintln!(
        "cold starts: {} rounds, each binary started once per round",
        args.cold_starts
    );
    let inits = all_inits(&rows, &prep, &args).await?;
    let mut figures = Vec::new();
    for (s, inits) in rows.into_iter().zip(inits) {
        eprintln!("measuring {} ({} invocations)", s.label, args.invocations);
        figures.push(measure(s, inits, &prep, &args).await?);
    }
    let floor = figures
        .iter()
        .find(|f| f.name == "floor")
        .cloned()
        .ok_or("no floor")?;
    println!();
    print_table(&figures, &floor);
    print_deployed_init(&figures, &floor);
    println!(
        "\nargon2id hash at the configured parameters (m={} KiB, t={}, p={}), in-process median: {} ms",
        prep.argon2.memory_kib,
        prep.argon2.iterations,
        prep.argon2.parallelism,
        ms(argon2_us)
    );
    for s in prep.signing_us()? {
        println!(
            "access token, in-process median: {} sign {} ms, verify {} ms",
            s.alg,
            ms(s.sign_us),
            ms(s.verify_us)
        );
    }
    let argon2_kib = u64::from(prep.argon2.memory_kib);
    let results = checks(&figures, &floor, argon2_us, argon2_kib);
    println!("\ntargets:");
    let mut failed = 0;
    for (what, pass) in &results {
        println!("  {} {what}", if *pass { "ok  " } else { "MISS" });
        failed += usize::from(!pass);
    }
    println!(
        "bench: {} passed, {} failed",
        results.len() - failed,
        failed
    );
    Ok(!args.check || failed == 0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("lambda-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as fast and as small as the floor, with no invocations.
    fn row(name: &str) -> Figures {
        Figures {
            name: name.to_owned(),
            init_us: 1_000,
            deployed_init_us: 1_000,
            peak_rss_kib: 4_096,
            ..Figures::default()
        }
    }

    /// The verdict of the one target whose text starts with `what`.
    fn verdict(results: &[(String, bool)], what: &str) -> bool {
        let mut found = results.iter().filter(|(text, _)| text.starts_with(what));
        let (_, pass) = found.next().expect("no such target");
        assert!(found.next().is_none(), "more than one target: {what}");
        *pass
    }

    #[test]
    fn login_401s_pass_within_a_tenth_of_each_other_off_dynamodb_and_miss_beyond() {
        let floor = row("floor");
        // Even calls a wrong password, odd ones an unknown user, each 10 ms waiting on DynamoDB.
        let alternating = |wrong: u64, unknown: u64| Figures {
            warm_us: [wrong, unknown, wrong, unknown]
                .map(|us| us + 10_000)
                .to_vec(),
            busy_us: vec![10_000; 4],
            variant: true,
            ..row("login-401s")
        };
        for (wrong, unknown, pass) in [
            (40_000, 43_000, true),
            (43_000, 40_000, true),
            (40_000, 45_000, false),
            (45_000, 40_000, false),
        ] {
            let results = checks(
                &[floor.clone(), alternating(wrong, unknown)],
                &floor,
                40_000,
                19_456,
            );
            assert_eq!(
                verdict(&results, "login 401s"),
                pass,
                "wrong password {wrong} µs, unknown user {unknown} µs off DynamoDB"
            );
        }
    }

    #[test]
    fn init_and_memory_are_judged_against_the_floor_and_the_floors_have_no_target() {
        let floor = row("floor");
        let rows = [
            floor.clone(),
            Figures {
                init_us: 3_000,
                ..row("floor-sdk")
            },
            Figures {
                init_us: 1_600,
                ..row("me")
            },
            Figures {
                init_us: 1_400,
                ..row("fallback")
            },
            Figures {
                init_us: 1_200,
                peak_rss_kib: 7_000,
                ..row("protected")
            },
            // SDK functions against floor-sdk (3 ms): 1.2x and 1.3x of it.
            Figures {
                init_us: 3_600,
                sdk: true,
                ..row("register")
            },
            Figures {
                init_us: 3_900,
                sdk: true,
                ..row("refresh")
            },
        ];
        let results = checks(&rows, &floor, 40_000, 19_456);
        assert!(verdict(&results, "register init 1.20x <= 1.25x floor-sdk"));
        assert!(!verdict(&results, "refresh init 1.30x <= 1.25x floor-sdk"));
        assert!(!verdict(&results, "me init"), "1.6x the floor's init");
        assert!(verdict(&results, "fallback init"), "1.4x the floor's init");
        assert!(verdict(&results, "protected init 1.20x <= 1.3x"));
        assert!(!verdict(&results, "protected peak RSS"), "1.7x the floor's");
        assert!(
            results.iter().all(|(text, _)| !text.starts_with("floor")),
            "{results:?}"
        );
    }
}
