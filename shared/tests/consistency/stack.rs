//! `template.yaml` as CloudFormation would deploy it for one choice of parameters: the
//! `Conditions` evaluated, every `!If` resolved to its branch, `AWS::NoValue` dropped, resources
//! whose `Condition` is false left out. Written here because no maintained Rust crate evaluates
//! CloudFormation conditions; it knows the intrinsics the template's conditions use (`Equals`,
//! `Not`, `Or`, `And`, `Condition`, `Ref`) and leaves every other intrinsic (`!Sub`, `!GetAtt`,
//! a `!Ref` to a resource) as written.

use std::collections::BTreeMap;

use serde_norway::Value as Yaml;

pub struct Stack<'a> {
    doc: &'a Yaml,
    params: BTreeMap<String, String>,
    /// The parameters not at their defaults.
    chosen: Vec<(String, String)>,
}

impl<'a> Stack<'a> {
    /// The stack with every parameter at its default, except `overrides`.
    pub fn new(doc: &'a Yaml, overrides: &[(String, String)]) -> Self {
        let mut params = BTreeMap::new();
        for (name, param) in doc["Parameters"].as_mapping().into_iter().flatten() {
            let default = match &param["Default"] {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                Yaml::Null => String::new(),
                other => format!("{other:?}"),
            };
            params.insert(name.as_str().unwrap().to_owned(), default);
        }
        for (name, value) in overrides {
            assert!(params.contains_key(name), "no parameter {name}");
            params.insert(name.clone(), value.clone());
        }
        let chosen = overrides.to_vec();
        Self {
            doc,
            params,
            chosen,
        }
    }

    /// Every choice of the parameters the `Conditions` read: each `AllowedValues` entry, else
    /// the default and `other` (for a parameter whose default is empty, `other` is "given").
    pub fn every_choice(doc: &'a Yaml, other: &dyn Fn(&str) -> String) -> Vec<Self> {
        let mut read = Vec::new();
        for (_, condition) in doc["Conditions"].as_mapping().into_iter().flatten() {
            collect_refs(condition, &mut read);
        }
        read.sort();
        read.dedup();
        let mut choices: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for name in read {
            let param = &doc["Parameters"][name.as_str()];
            let values: Vec<String> = match param["AllowedValues"].as_sequence() {
                Some(allowed) => allowed
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
                None => vec![
                    param["Default"].as_str().unwrap_or_default().to_owned(),
                    other(&name),
                ],
            };
            let mut next = Vec::new();
            for choice in &choices {
                for value in &values {
                    let mut with = choice.clone();
                    with.push((name.clone(), value.clone()));
                    next.push(with);
                }
            }
            choices = next;
        }
        choices.iter().map(|c| Self::new(doc, c)).collect()
    }

    pub fn param(&self, name: &str) -> &str {
        &self.params[name]
    }

    pub fn describe(&self) -> String {
        format!("{:?}", self.chosen)
    }

    pub fn condition(&self, name: &str) -> bool {
        let condition = &self.doc["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.holds(condition)
    }

    fn holds(&self, value: &Yaml) -> bool {
        let Yaml::Tagged(tagged) = value else {
            panic!("a condition of an unexpected shape: {value:?}")
        };
        let args = &tagged.value;
        match tagged.tag.to_string().trim_start_matches('!') {
            "Equals" => {
                let pair = args.as_sequence().unwrap();
                self.scalar(&pair[0]) == self.scalar(&pair[1])
            }
            "Not" => !self.holds(&args.as_sequence().unwrap()[0]),
            "Or" => args.as_sequence().unwrap().iter().any(|c| self.holds(c)),
            "And" => args.as_sequence().unwrap().iter().all(|c| self.holds(c)),
            "Condition" => self.condition(args.as_str().unwrap()),
            other => panic!("condition function {other} is not known here"),
        }
    }

    fn scalar(&self, value: &Yaml) -> String {
        match value {
            Yaml::String(s) => s.clone(),
            Yaml::Tagged(t) if t.tag == "Ref" => self.params[t.value.as_str().unwrap()].clone(),
            other => panic!("a scalar of an unexpected shape: {other:?}"),
        }
    }

    /// `value` as deployed: `None` for `AWS::NoValue`.
    pub fn resolve(&self, value: &Yaml) -> Option<Yaml> {
        match value {
            Yaml::Tagged(t) if t.tag == "If" => {
                let branches = t.value.as_sequence().unwrap();
                let holds = self.condition(branches[0].as_str().unwrap());
                self.resolve(&branches[if holds { 1 } else { 2 }])
            }
            Yaml::Tagged(t) if t.tag == "Ref" => {
                let name = t.value.as_str().unwrap();
                if name == "AWS::NoValue" {
                    None
                } else if let Some(param) = self.params.get(name) {
                    Some(Yaml::String(param.clone()))
                } else {
                    Some(value.clone())
                }
            }
            Yaml::Sequence(items) => Some(Yaml::Sequence(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            Yaml::Mapping(map) => Some(Yaml::Mapping(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }

    /// The deployed `AWS::Serverless::Function` resources: logical name and resolved
    /// `Properties`.
    pub fn functions(&self) -> Vec<(String, Yaml)> {
        let mut out = Vec::new();
        for (name, resource) in self.doc["Resources"].as_mapping().unwrap() {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            if let Some(condition) = resource["Condition"].as_str()
                && !self.condition(condition)
            {
                continue;
            }
            let props = self.resolve(&resource["Properties"]).unwrap_or(Yaml::Null);
            out.push((name.as_str().unwrap().to_owned(), props));
        }
        out
    }
}

fn collect_refs(value: &Yaml, out: &mut Vec<String>) {
    match value {
        Yaml::Tagged(t) if t.tag == "Ref" => out.push(t.value.as_str().unwrap().to_owned()),
        Yaml::Tagged(t) => collect_refs(&t.value, out),
        Yaml::Sequence(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
