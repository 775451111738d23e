//! The alarms and the dashboard of `template.yaml` against what the code emits (issue 28): a
//! metric of the functions' own namespace (`!Ref MetricsNamespace`) is one of
//! [`shared::metrics::EMITTED`] at one of its dimension sets, and each dimension value is one the
//! code can write (an action of `shared::audit`, an outcome, a reason or policy that is
//! [`shared::metrics::dimension_value`] of a string literal of the sources, a dependency of
//! `shared::http`'s 503 path). A metric of AWS's own names a resource of the template, under
//! that resource's condition. Every function has its Errors and Throttles alarm; every alarm has
//! a threshold parameter and notifies `AlarmTopicArn` when one is given.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value as Yaml;
use shared::audit::Outcome;
use shared::metrics::{DEFAULT_NAMESPACE, EMITTED, dimension_value};

use crate::helpers::read;

fn doc() -> Yaml {
    serde_norway::from_str(&read("template.yaml")).unwrap()
}

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `!Ref name`'s name.
fn ref_name(value: &Yaml) -> Option<&str> {
    match value {
        Yaml::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        _ => None,
    }
}

/// The resources of `type_`, by logical name.
fn resources<'d>(doc: &'d Yaml, type_: &str) -> Vec<(&'d str, &'d Yaml)> {
    doc["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(type_))
        .map(|(name, r)| (name.as_str().unwrap(), r))
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of every source file of the shared crate and of the functions.
fn sources() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root().join("shared/src"), &mut files);
    for function in std::fs::read_dir(root().join("functions")).unwrap() {
        let src = function.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 40, "{} source files", files.len());
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// The string literals of Rust source `text` (escapes left as written): plain, byte and raw
/// strings, read by `proc_macro2`'s tokenizer, so comments, char literals, lifetimes and raw
/// identifiers are told apart as the compiler does; doc comments (`#[doc = "..."]` to the
/// tokenizer) are comments here too.
fn string_literals(text: &str) -> Vec<String> {
    use proc_macro2::{TokenStream, TokenTree};
    fn collect(tokens: TokenStream, out: &mut Vec<String>) {
        let mut after_hash = false;
        for token in tokens {
            match &token {
                TokenTree::Group(group) => {
                    let is_doc = after_hash
                        && matches!(group.stream().into_iter().next(),
                            Some(TokenTree::Ident(ident)) if ident == "doc");
                    if !is_doc {
                        collect(group.stream(), out);
                    }
                }
                TokenTree::Literal(literal) => {
                    let text = literal.to_string();
                    let text = text.strip_prefix('b').unwrap_or(&text);
                    if let Some(raw) = text.strip_prefix('r') {
                        let hashes = raw.len() - raw.trim_start_matches('#').len();
                        out.push(raw[hashes + 1..raw.len() - hashes - 1].to_owned());
                    } else if text.starts_with('"') {
                        out.push(text[1..text.len() - 1].to_owned());
                    }
                }
                _ => {}
            }
            after_hash = matches!(&token, TokenTree::Punct(p) if p.as_char() == '#');
        }
    }
    let tokens: TokenStream = text.parse().expect("Rust source, its delimiters balanced");
    let mut out = Vec::new();
    collect(tokens, &mut out);
    out
}

/// What the code can write as each dimension's value.
struct Emitted {
    by_dimension: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Emitted {
    fn read() -> Self {
        let sources = sources();
        let literals: Vec<String> = sources.iter().flat_map(|t| string_literals(t)).collect();
        // Reasons and policies are normalised codes of the code's own strings.
        let codes: BTreeSet<String> = literals.iter().map(|l| dimension_value(l)).collect();

        // Actions: `Action::as_str`'s arms, and an action given as a literal (`notify`).
        let audit = read("shared/src/audit.rs");
        let start = audit
            .find("impl Action {")
            .expect("impl Action in audit.rs");
        // Through the impl's closing brace: the tokenizer wants its delimiters balanced.
        let end = start + audit[start..].find("\n}\n").unwrap() + 2;
        let mut actions: BTreeSet<String> =
            string_literals(&audit[start..end]).into_iter().collect();
        for text in &sources {
            for (i, _) in text.match_indices("metrics::event(") {
                let rest = text[i + "metrics::event(".len()..].trim_start();
                if rest.starts_with('"') {
                    let first = &rest[..rest.find(',').unwrap_or(rest.len())];
                    actions.extend(string_literals(first).into_iter().next());
                }
            }
        }
        assert!(
            actions.contains(shared::audit::Action::Login.as_str()) && actions.contains("notify"),
            "{actions:?}"
        );

        // Dependencies: what `shared::http`'s 503 path names.
        let response = read("shared/src/http/response.rs");
        let start = response
            .find("fn dependency(")
            .expect("fn dependency in shared/src/http/response.rs");
        let end = start + response[start..].find("\n}\n").unwrap() + 2;
        let dependencies: BTreeSet<String> =
            string_literals(&response[start..end]).into_iter().collect();
        assert!(dependencies.contains("dynamodb"), "{dependencies:?}");

        let outcomes = [Outcome::Success, Outcome::Failure, Outcome::Refused]
            .map(|o| o.as_str().to_owned())
            .into_iter()
            .collect();
        let by_dimension = BTreeMap::from([
            ("Action", actions),
            ("Outcome", outcomes),
            ("Reason", codes.clone()),
            ("Policy", codes),
            ("Dependency", dependencies),
        ]);
        Self { by_dimension }
    }

    /// What is wrong with a metric of the functions' namespace: its name, its dimension set or a
    /// dimension value the code never writes.
    fn check(&self, metric: &str, dimensions: &[(String, String)]) -> Vec<String> {
        let names: BTreeSet<&str> = dimensions.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(problem) = check_set(metric, &names) {
            return vec![problem];
        }
        let mut problems = Vec::new();
        for (name, value) in dimensions {
            match self.by_dimension.get(name.as_str()) {
                Some(values) if values.contains(value) => {}
                Some(_) => problems.push(format!("{metric}: no code emits {name}={value}")),
                None => problems.push(format!("{metric}: no values known for {name}")),
            }
        }
        problems
    }
}

/// Why `metric` at the dimension set `names` is not one of [`EMITTED`], if it is not.
fn check_set(metric: &str, names: &BTreeSet<&str>) -> Option<String> {
    let Some((_, sets)) = EMITTED.iter().find(|(name, _)| *name == metric) else {
        return Some(format!("no code emits the metric {metric}"));
    };
    let emitted = sets
        .iter()
        .any(|set| set.iter().copied().collect::<BTreeSet<_>>() == *names);
    (!emitted).then(|| format!("{metric} is never emitted with the dimensions {names:?}"))
}

/// One metric an alarm reads: its namespace (as written), name and dimensions (as written).
struct AlarmMetric<'d> {
    namespace: &'d Yaml,
    name: &'d str,
    dimensions: Vec<(&'d str, &'d Yaml)>,
}

/// The metrics of an alarm: its own, or each `MetricStat` of its metric math.
fn alarm_metrics(props: &Yaml) -> Vec<AlarmMetric<'_>> {
    fn of(metric: &Yaml) -> AlarmMetric<'_> {
        AlarmMetric {
            namespace: &metric["Namespace"],
            name: metric["MetricName"].as_str().expect("a MetricName"),
            dimensions: metric["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|d| (d["Name"].as_str().unwrap(), &d["Value"]))
                .collect(),
        }
    }
    if props["Metrics"].is_null() {
        return vec![of(props)];
    }
    props["Metrics"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|m| !m["MetricStat"].is_null())
        .map(|m| of(&m["MetricStat"]["Metric"]))
        .collect()
}

/// The resource type a dimension of AWS's own metrics names.
fn dimension_resource(dimension: &str) -> Option<&'static str> {
    match dimension {
        "FunctionName" => Some("AWS::Serverless::Function"),
        "TableName" => Some("AWS::DynamoDB::Table"),
        "ApiId" => Some("AWS::Serverless::HttpApi"),
        _ => None,
    }
}

/// What is wrong with the metrics of one alarm.
fn alarm_problems(doc: &Yaml, emitted: &Emitted, name: &str, alarm: &Yaml) -> Vec<String> {
    let mut problems = Vec::new();
    let condition = alarm["Condition"].as_str();
    for metric in alarm_metrics(&alarm["Properties"]) {
        if ref_name(metric.namespace) == Some("MetricsNamespace") {
            let mut dimensions = Vec::new();
            for (dim, value) in &metric.dimensions {
                match value.as_str() {
                    Some(v) => dimensions.push(((*dim).to_owned(), v.to_owned())),
                    None => problems.push(format!("{name}: {dim} is no plain value: {value:?}")),
                }
            }
            problems.extend(
                emitted
                    .check(metric.name, &dimensions)
                    .into_iter()
                    .map(|p| format!("{name}: {p}")),
            );
            continue;
        }
        let namespace = metric.namespace.as_str().unwrap_or_default();
        if !["AWS/Lambda", "AWS/ApiGateway", "AWS/DynamoDB"].contains(&namespace) {
            problems.push(format!(
                "{name}: namespace {:?} is neither !Ref MetricsNamespace nor AWS's",
                metric.namespace
            ));
            continue;
        }
        for (dim, value) in &metric.dimensions {
            if *dim == "GlobalSecondaryIndexName" {
                let table = metric
                    .dimensions
                    .iter()
                    .find(|(d, _)| *d == "TableName")
                    .and_then(|(_, v)| ref_name(v))
                    .unwrap_or_default();
                let indexes = format!(
                    "{:?}",
                    doc["Resources"][table]["Properties"]["GlobalSecondaryIndexes"]
                );
                let index = value.as_str().unwrap_or_default();
                if index.is_empty() || !indexes.contains(&format!("\"{index}\"")) {
                    problems.push(format!("{name}: {table} has no index {value:?}"));
                }
                continue;
            }
            let Some(type_) = dimension_resource(dim) else {
                problems.push(format!("{name}: dimension {dim} is not known here"));
                continue;
            };
            let target = ref_name(value).unwrap_or_default();
            let resource = &doc["Resources"][target];
            if resource["Type"].as_str() != Some(type_) {
                problems.push(format!(
                    "{name}: {dim} {value:?} is no {type_} of the template"
                ));
            } else if resource["Condition"].as_str() != condition {
                problems.push(format!(
                    "{name}: {target} exists under {:?}, the alarm under {condition:?}",
                    resource["Condition"].as_str()
                ));
            }
        }
    }
    problems
}

/// What is wrong with the rest of one alarm: its threshold, its actions, its metric math.
fn alarm_shape_problems(doc: &Yaml, name: &str, alarm: &Yaml) -> Vec<String> {
    let props = &alarm["Properties"];
    let mut problems = Vec::new();
    let threshold = ref_name(&props["Threshold"]).unwrap_or_default();
    let param = &doc["Parameters"][threshold];
    if param["Type"].as_str() != Some("Number") || param["Description"].as_str().is_none() {
        problems.push(format!(
            "{name}: Threshold is no !Ref of a described Number parameter"
        ));
    }
    if props["TreatMissingData"].as_str() != Some("notBreaching") {
        problems.push(format!("{name}: missing data must not breach"));
    }
    for actions in ["AlarmActions", "OKActions"] {
        let ok = match &props[actions] {
            Yaml::Tagged(t) if t.tag == "If" => {
                let branches = t.value.as_sequence().unwrap();
                branches[0].as_str() == Some("HasAlarmTopic")
                    && branches[1]
                        .as_sequence()
                        .is_some_and(|s| s.len() == 1 && ref_name(&s[0]) == Some("AlarmTopicArn"))
                    && ref_name(&branches[2]) == Some("AWS::NoValue")
            }
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "{name}: {actions} is not !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]"
            ));
        }
    }
    if let Some(metrics) = props["Metrics"].as_sequence() {
        let ids: BTreeSet<&str> = metrics.iter().filter_map(|m| m["Id"].as_str()).collect();
        if ids.len() != metrics.len() {
            problems.push(format!("{name}: every metric needs an Id of its own"));
        }
        let returned = metrics
            .iter()
            .filter(|m| m["ReturnData"].as_bool() != Some(false))
            .count();
        if returned != 1 {
            problems.push(format!("{name}: {returned} metrics return data, not one"));
        }
        for metric in metrics {
            let expression = match &metric["Expression"] {
                Yaml::String(s) => s.clone(),
                Yaml::Tagged(t) if t.tag == "Sub" => t.value.as_str().unwrap().to_owned(),
                Yaml::Null => continue,
                other => panic!("{name}: an expression of an unexpected shape: {other:?}"),
            };
            for word in expression
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with(|c: char| c.is_ascii_lowercase()))
            {
                if !ids.contains(word) {
                    problems.push(format!(
                        "{name}: {expression:?} reads {word}, no metric of it"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn every_alarm_reads_a_metric_something_emits_and_notifies_the_topic_when_given() {
    let doc = doc();
    let emitted = Emitted::read();
    let alarms = resources(&doc, "AWS::CloudWatch::Alarm");
    let mut problems = Vec::new();
    let mut own = 0;
    for (name, alarm) in &alarms {
        problems.extend(alarm_problems(&doc, &emitted, name, alarm));
        problems.extend(alarm_shape_problems(&doc, name, alarm));
        own += alarm_metrics(&alarm["Properties"])
            .iter()
            .filter(|m| ref_name(m.namespace) == Some("MetricsNamespace"))
            .count();
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(own >= 6, "{own} metrics of the functions' namespace");
}

/// The alarms the issue asks for, on the metrics it names: the test above checks that those
/// metrics exist, this one that they are the ones watched.
#[test]
fn the_security_alarms_watch_failed_logins_and_refresh_token_reuse() {
    let doc = doc();
    let watched = |alarm: &str| -> Vec<String> {
        let resource = &doc["Resources"][alarm];
        assert!(!resource.is_null(), "no {alarm}");
        alarm_metrics(&resource["Properties"])
            .iter()
            .map(|m| {
                let dims: Vec<String> = m
                    .dimensions
                    .iter()
                    .map(|(d, v)| format!("{d}={}", v.as_str().unwrap_or("?")))
                    .collect();
                format!("{} {}", m.name, dims.join(" "))
            })
            .collect()
    };
    let failures = "Events Action=login Outcome=failure Reason=invalid_credentials";
    assert_eq!(watched("FailedLoginsAlarm"), [failures]);
    assert_eq!(
        watched("FailedLoginRatioAlarm"),
        [failures, "Events Action=login Outcome=success"]
    );
    // `GrantRefused::Reused`'s reason (`shared::refresh`, behind a feature this test builds
    // without), normalised.
    let reuse = format!(
        "Events Action=refresh Outcome=failure Reason={}",
        dimension_value("reuse detected, session revoked")
    );
    assert_eq!(watched("RefreshReuseAlarm"), [reuse]);
}

/// Every function has an Errors and a Throttles alarm on its own `FunctionName`, under its own
/// condition (the alarm of a function a stack leaves out would name a missing resource).
#[test]
fn every_function_has_its_errors_and_throttles_alarm() {
    let doc = doc();
    let alarms = resources(&doc, "AWS::CloudWatch::Alarm");
    let functions = resources(&doc, "AWS::Serverless::Function");
    assert!(functions.len() >= 30, "{}", functions.len());
    let mut missing = Vec::new();
    for (function, resource) in &functions {
        for metric in ["Errors", "Throttles"] {
            let found = alarms.iter().any(|(_, alarm)| {
                let props = &alarm["Properties"];
                props["Namespace"].as_str() == Some("AWS/Lambda")
                    && props["MetricName"].as_str() == Some(metric)
                    && alarm["Condition"].as_str() == resource["Condition"].as_str()
                    && props["Dimensions"].as_sequence().is_some_and(|d| {
                        d.len() == 1
                            && d[0]["Name"].as_str() == Some("FunctionName")
                            && ref_name(&d[0]["Value"]) == Some(*function)
                    })
            });
            if !found {
                missing.push(format!("{function}: no {metric} alarm"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// Every function gets the namespace through the Globals, none overrides it, and the
/// parameter's default is the code's.
#[test]
fn every_function_writes_metrics_under_the_namespace_parameter() {
    let doc = doc();
    let global = &doc["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"];
    assert_eq!(ref_name(global), Some("MetricsNamespace"));
    for (name, function) in resources(&doc, "AWS::Serverless::Function") {
        let own = &function["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"];
        assert!(own.is_null(), "{name} sets its own METRICS_NAMESPACE");
    }
    let param = &doc["Parameters"]["MetricsNamespace"];
    assert_eq!(param["Default"].as_str(), Some(DEFAULT_NAMESPACE));
    let pattern = regex_lite::Regex::new(param["AllowedPattern"].as_str().unwrap()).unwrap();
    for good in ["AuthApi", "AuthApi-prod", "auth_api.staging"] {
        assert!(pattern.is_match(good), "{good}");
    }
    for bad in ["", "AWS/Lambda", "Auth Api", "a\"b", "a\\b", "a{b}"] {
        assert!(!pattern.is_match(bad), "{bad:?}");
    }
    let topic = &doc["Parameters"]["AlarmTopicArn"];
    assert_eq!(topic["Default"].as_str(), Some(""));
    let pattern = regex_lite::Regex::new(topic["AllowedPattern"].as_str().unwrap()).unwrap();
    for good in ["", "arn:aws:sns:eu-west-1:123456789012:ops-alarms"] {
        assert!(pattern.is_match(good), "{good}");
    }
    for bad in [
        "ops-alarms",
        "arn:aws:sqs:eu-west-1:123456789012:q",
        "arn:aws:sns:eu-west-1:123:ops",
    ] {
        assert!(!pattern.is_match(bad), "{bad}");
    }
}

/// The dashboard's body: valid JSON once CloudFormation substitutes it; every `${...}` names a
/// parameter, a pseudo parameter or a resource that every stack has; every metric of the
/// functions' namespace it graphs (a metric row or a `SEARCH`) is one the code emits.
#[test]
fn the_dashboard_is_json_and_graphs_metrics_something_emits() {
    let doc = doc();
    let emitted = Emitted::read();
    let dashboards = resources(&doc, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let body = match &dashboards[0].1["Properties"]["DashboardBody"] {
        Yaml::Tagged(t) if t.tag == "Sub" => t.value.as_str().unwrap().to_owned(),
        other => panic!("DashboardBody is no !Sub text: {other:?}"),
    };
    let params = &doc["Parameters"];
    let mut problems = Vec::new();
    let placeholder = regex_lite::Regex::new(r"\$\{([^}]*)\}").unwrap();
    let json_text = placeholder.replace_all(&body, |c: &regex_lite::Captures<'_>| {
        let name = &c[1];
        let resource = &doc["Resources"][name.trim_end_matches(".Arn")];
        if let Yaml::Number(default) = &params[name]["Default"] {
            return default.to_string();
        }
        if params[name].is_null() && !name.starts_with("AWS::") {
            if resource.is_null() {
                problems.push(format!("${{{name}}} names nothing"));
            } else if !resource["Condition"].is_null() {
                problems.push(format!("${{{name}}} is missing from some stacks"));
            }
        }
        format!("<{name}>")
    });
    let json: serde_json::Value = serde_json::from_str(&json_text)
        .unwrap_or_else(|e| panic!("the dashboard body is no JSON: {e}\n{json_text}"));
    let own = "<MetricsNamespace>";
    let mut graphed = 0;
    let widgets = json["widgets"].as_array().expect("widgets");
    for widget in widgets {
        for row in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let row = row.as_array().unwrap();
            if let Some(expression) = row[0]["expression"].as_str() {
                // SEARCH('{<namespace>,<dimension>...} MetricName="<metric>"', ...)
                let Some(rest) = expression.strip_prefix("SEARCH('{") else {
                    continue;
                };
                let (schema, rest) = rest.split_once('}').unwrap();
                let mut schema = schema.split(',');
                if schema.next() != Some(own) {
                    continue;
                }
                let metric = rest
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_else(|| panic!("a SEARCH without a MetricName: {expression}"));
                // A search graphs every value: the metric and its dimension set only.
                problems.extend(check_set(metric, &schema.collect()));
                graphed += 1;
            } else if row[0].as_str() == Some(own) {
                let strings: Vec<&str> = row.iter().filter_map(|v| v.as_str()).collect();
                let dims: Vec<(String, String)> = strings[2..]
                    .chunks(2)
                    .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
                    .collect();
                problems.extend(emitted.check(strings[1], &dims));
                graphed += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        graphed >= 8,
        "{graphed} graphs of the functions' own metrics"
    );
    assert!(
        widgets.iter().any(|w| w["type"] == "alarm"),
        "the alarms' states"
    );
}

#[test]
fn string_literals_are_read_as_the_compiler_reads_them() {
    let text = r##"
        // "not this"
        let a = "one"; let b = 'x'; let c = '"'; fn f<'a>(x: &'a str) {}
        let d = r#"two "quoted""#; let e = b"three"; /* "nor this" */ let g = "fo\"ur";
        let r#type = 1;
    "##;
    assert_eq!(
        string_literals(text),
        ["one", "two \"quoted\"", "three", "fo\\\"ur"]
    );
}
