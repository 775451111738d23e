//! The route table (`shared::routes::ROUTES`) is the one source of truth for the API's routes:
//! `template.yaml`, `openapi.yaml` and the `cargo lambda watch` router in `Cargo.toml` must list
//! exactly its routes, each served by the same function. A route missing from, or extra in, any
//! of them fails here, naming the file and the route.

use std::collections::BTreeSet;

use serde_norway::Value as Yaml;
use shared::routes::{FALLBACK_FUNCTION, ROUTES};

use crate::helpers::read;

/// (method, path, function)
type Routes = BTreeSet<(String, String, String)>;

fn table() -> Routes {
    ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect()
}

/// Every `HttpApi` event of every function in the SAM template, and every route written in the
/// HttpApi's `DefinitionBody`; the `$default` event (no path) must belong to the fallback
/// function.
fn template_routes(text: &str) -> Routes {
    let doc: Yaml = serde_norway::from_str(text).unwrap();
    let mut routes = body_routes(&doc);
    let mut fallbacks = 0;
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = binary(resource);
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            match (props["Method"].as_str(), props["Path"].as_str()) {
                (Some(method), Some(path)) => {
                    routes.insert((method.to_uppercase(), path.into(), function.into()));
                }
                (None, None) => {
                    assert_eq!(function, FALLBACK_FUNCTION, "only fallback is $default");
                    fallbacks += 1;
                }
                other => panic!("{function}: an HttpApi event with only {other:?}"),
            }
        }
    }
    assert_eq!(fallbacks, 1, "template.yaml: one $default route (fallback)");
    routes
}

fn binary(function: &Yaml) -> &str {
    function["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .expect("every function names its Binary")
}

/// A YAML value without its CloudFormation tag (`!If`, `!Sub`, ...).
fn untagged(value: &Yaml) -> &Yaml {
    match value {
        Yaml::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

/// Builds of one function's handler that `template.yaml` deploys in its place under a
/// condition (the `-session` build links the AWS SDK).
const SAME_HANDLER: &[(&str, &str)] = &[("protected-session", "protected")];

/// The routes written in `HttpApi.Properties.DefinitionBody`. A method may be an `!If` between
/// variants (one per gateway authorizer), each of which must then carry a security
/// requirement; an integration `uri` may be an `!If` between builds of one handler
/// ([`SAME_HANDLER`]). Every variant integrates the same function, named by
/// `${<Logical>.Arn}` in the `uri`.
fn body_routes(doc: &Yaml) -> Routes {
    let resources = &doc["Resources"];
    let mut routes = Routes::new();
    let Some(paths) = resources["HttpApi"]["Properties"]["DefinitionBody"]["paths"].as_mapping()
    else {
        return routes;
    };
    for (path, methods) in paths {
        let path = path.as_str().unwrap();
        for (method, operation) in methods.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_uppercase();
            let variants: Vec<&Yaml> = match operation {
                Yaml::Tagged(t) if t.tag == "If" => {
                    let variants: Vec<&Yaml> = t.value.as_sequence().unwrap()[1..].iter().collect();
                    for op in &variants {
                        assert!(
                            op["security"].as_sequence().is_some_and(|s| !s.is_empty()),
                            "{method} {path}: every variant in the DefinitionBody names its authorizer"
                        );
                    }
                    variants
                }
                other => vec![other],
            };
            let functions: BTreeSet<&str> = variants
                .iter()
                .flat_map(|op| {
                    let uris: Vec<&Yaml> = match &op["x-amazon-apigateway-integration"]["uri"] {
                        Yaml::Tagged(t) if t.tag == "If" => {
                            t.value.as_sequence().unwrap()[1..].iter().collect()
                        }
                        other => vec![other],
                    };
                    uris.into_iter().map(|uri| {
                        let uri = untagged(uri);
                        let logical = uri
                            .as_str()
                            .and_then(|u| {
                                u.split("${")
                                    .find_map(|v| v.strip_suffix(".Arn}/invocations"))
                            })
                            .unwrap_or_else(|| {
                                panic!("{method} {path}: no ${{Function.Arn}} in {uri:?}")
                            });
                        let built = binary(&resources[logical]);
                        SAME_HANDLER
                            .iter()
                            .find(|(build, _)| *build == built)
                            .map_or(built, |(_, handler)| handler)
                    })
                })
                .collect();
            assert_eq!(
                functions.len(),
                1,
                "{method} {path}: one function in every variant"
            );
            for function in functions {
                routes.insert((method.clone(), path.to_owned(), function.to_owned()));
            }
        }
    }
    routes
}

/// Every operation of the OpenAPI document, as (method, path); the function is not named there.
fn openapi_operations(text: &str) -> BTreeSet<(String, String)> {
    let doc: Yaml = serde_norway::from_str(text).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&method) {
                ops.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    ops
}

/// The `cargo lambda watch` router: `"/path" = "function"` (every method) or
/// `"/path" = [{ method = "GET", function = "f" }, ...]`. `ANY` stands for every method.
fn watch_routes(text: &str) -> Routes {
    let doc: toml::Value = toml::from_str(text).unwrap();
    let router = doc["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]");
    let mut routes = Routes::new();
    for (path, target) in router {
        match target {
            toml::Value::String(function) => {
                routes.insert(("ANY".into(), path.clone(), function.clone()));
            }
            toml::Value::Array(entries) => {
                for e in entries {
                    routes.insert((
                        e["method"].as_str().unwrap().to_uppercase(),
                        path.clone(),
                        e["function"].as_str().unwrap().to_owned(),
                    ));
                }
            }
            other => panic!("router entry {path}: {other}"),
        }
    }
    routes
}

/// What is in `want` but not in `got`, and the other way round, as a readable message.
fn diff<T: Ord + std::fmt::Debug>(file: &str, want: &BTreeSet<T>, got: &BTreeSet<T>) -> String {
    let missing: Vec<_> = want.difference(got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    if missing.is_empty() && extra.is_empty() {
        return String::new();
    }
    format!("{file}: missing {missing:?}, not in the route table {extra:?}")
}

/// Checks the three files against the table; the error names what differs.
fn check(template: &str, openapi: &str, cargo: &str) -> Result<(), String> {
    let table = table();
    let mut problems = vec![diff("template.yaml", &table, &template_routes(template))];
    let ops: BTreeSet<_> = table
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    problems.push(diff("openapi.yaml", &ops, &openapi_operations(openapi)));
    // The watch router routes by path (any method) to the function of the table; the handlers
    // answer 405 themselves. The catch-alls go to the fallback.
    let mut watch = watch_routes(cargo);
    // Entries that send a method to the fallback stand for its 405.
    watch.retain(|(_, _, function)| function != FALLBACK_FUNCTION);
    let catch_all = watch_routes(cargo)
        .into_iter()
        .filter(|(_, p, f)| f == FALLBACK_FUNCTION && (p == "/" || p == "/{*path}"))
        .count();
    if catch_all != 2 {
        problems.push("Cargo.toml watch router: \"/\" and \"/{*path}\" must go to fallback".into());
    }
    let expected: Routes = table
        .iter()
        .map(|(m, p, f)| {
            let any = watch.contains(&("ANY".into(), p.clone(), f.clone()));
            (
                if any { "ANY".into() } else { m.clone() },
                p.clone(),
                f.clone(),
            )
        })
        .collect();
    problems.push(diff("Cargo.toml watch router", &expected, &watch));
    problems.retain(|p| !p.is_empty());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn template_openapi_and_the_watch_router_list_exactly_the_route_table() {
    if let Err(problems) = check(
        &read("template.yaml"),
        &read("openapi.yaml"),
        &read("Cargo.toml"),
    ) {
        panic!("the route table and the files disagree:\n{problems}");
    }
}

#[test]
fn a_route_deleted_from_any_file_is_caught() {
    let (template, openapi, cargo) = (
        read("template.yaml"),
        read("openapi.yaml"),
        read("Cargo.toml"),
    );
    // The login route, cut out of each file in turn.
    let no_event = template.replace(
        "        Login:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            Path: /login\n            Method: POST\n",
        "",
    );
    assert_ne!(no_event, template);
    let err = check(&no_event, &openapi, &cargo).unwrap_err();
    assert!(
        err.contains("template.yaml") && err.contains("/login"),
        "{err}"
    );

    // GET /me lives in the HttpApi's DefinitionBody, not in an event.
    let no_body_route = template.replacen("          /me:\n", "          /me-renamed:\n", 1);
    assert_ne!(no_body_route, template);
    let err = check(&no_body_route, &openapi, &cargo).unwrap_err();
    assert!(
        err.contains("template.yaml") && err.contains("\"/me\", \"me\""),
        "{err}"
    );

    let no_path = openapi.replacen("  /login:\n", "  /login-renamed:\n", 1);
    assert_ne!(no_path, openapi);
    let err = check(&template, &no_path, &cargo).unwrap_err();
    assert!(
        err.contains("openapi.yaml") && err.contains("/login"),
        "{err}"
    );

    let no_router = cargo.replace("\"/login\" = \"login\"\n", "");
    assert_ne!(no_router, cargo);
    let err = check(&template, &openapi, &no_router).unwrap_err();
    assert!(
        err.contains("Cargo.toml") && err.contains("/login"),
        "{err}"
    );
}
