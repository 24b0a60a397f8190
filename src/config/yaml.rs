//! YAML text → `serde_json::Value` plus an index of where each key stands.
//!
//! Owns: parsing the config file's YAML and remembering the line of every dotted key
//! (`models.fast.route[1]`), so that errors found long after parsing (an unknown provider in a
//! route) can still name the line. Must not interpret the config: that is `raw.rs`/`check.rs`.
//!
//! One parser does both jobs (yaml-rust2's event parser hands out a marker per event), so the
//! value and its positions can never disagree.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::yaml::Yaml;

/// A parsed document and the 1-based line of each dotted key in it.
#[derive(Debug, Default)]
pub(crate) struct Document {
    pub value: Value,
    pub lines: HashMap<String, usize>,
}

/// A YAML syntax problem, with its 1-based line.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub key: String,
    pub msg: String,
}

pub(crate) fn parse(text: &str) -> Result<Document, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err(SyntaxError {
            line: e.marker().line(),
            key: String::new(),
            msg: format!("YAML syntax error: {}", e.info()),
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(Document {
        value: builder.root.unwrap_or(Value::Null),
        lines: builder.lines,
    })
}

/// A container being filled: its dotted path, its value so far and, for maps, the pending key.
enum Frame {
    Seq {
        path: String,
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        path: String,
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    lines: HashMap<String, usize>,
    anchors: HashMap<usize, Value>,
    error: Option<SyntaxError>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Plain scalars get YAML 1.2 core-schema types; quoted ones stay strings.
fn scalar(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match Yaml::from_str(&text) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::String(text), Value::Number),
        _ => Value::String(text),
    }
}

impl Builder {
    /// Where the next value lands: its dotted path (None when it is a mapping key).
    fn next_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Seq { path, items, .. }) => Some(format!("{path}[{}]", items.len())),
            Some(Frame::Map { key: None, .. }) => None,
            Some(Frame::Map {
                path, key: Some(k), ..
            }) => Some(join(path, k)),
        }
    }

    fn push_value(&mut self, value: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, path, .. }) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => {
                    let k = match value {
                        Value::String(s) => s,
                        Value::Null => "null".to_string(),
                        other => other.to_string(),
                    };
                    let full = join(path, &k);
                    if map.contains_key(&k) && self.error.is_none() {
                        let first = self.lines.get(&full).copied().unwrap_or(0);
                        self.error = Some(SyntaxError {
                            line: mark.line(),
                            key: full.clone(),
                            msg: format!(
                                "`{k}` appears twice in the same mapping (first on line {first}); \
                                 keep one of them"
                            ),
                        });
                    }
                    self.lines.entry(full).or_insert(mark.line());
                    *key = Some(k);
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                if let Some(p) = self.next_path() {
                    self.lines.entry(p).or_insert(mark.line());
                }
                self.push_value(scalar(text, style), anchor, mark);
            }
            Event::SequenceStart(anchor, _) => {
                let path = self.next_path().unwrap_or_default();
                self.lines.entry(path.clone()).or_insert(mark.line());
                self.stack.push(Frame::Seq {
                    path,
                    items: Vec::new(),
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => {
                let path = self.next_path().unwrap_or_default();
                self.lines.entry(path.clone()).or_insert(mark.line());
                self.stack.push(Frame::Map {
                    path,
                    map: Map::new(),
                    key: None,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let (value, anchor) = match frame {
                        Frame::Seq { items, anchor, .. } => (Value::Array(items), anchor),
                        Frame::Map { map, anchor, .. } => (Value::Object(map), anchor),
                    };
                    self.push_value(value, anchor, mark);
                }
            }
            Event::Alias(id) => {
                let value = self.anchors.get(&id).cloned().unwrap_or(Value::Null);
                if let Some(p) = self.next_path() {
                    self.lines.entry(p).or_insert(mark.line());
                }
                self.push_value(value, 0, mark);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_lines_of_nested_keys_and_sequence_items() {
        let doc = parse("a:\n  b: 1\n  c:\n    - x\n    - \"2\"\nd: true\n").unwrap();
        assert_eq!(doc.lines["a.b"], 2);
        assert_eq!(doc.lines["a.c[1]"], 5);
        assert_eq!(doc.lines["d"], 6);
        assert_eq!(doc.value["a"]["b"], 1);
        assert_eq!(doc.value["a"]["c"][1], "2");
        assert_eq!(doc.value["d"], true);
    }

    #[test]
    fn flow_mappings_get_lines_too() {
        let doc = parse("p:\n  local: { kind: ollama, base_url: x }\n").unwrap();
        assert_eq!(doc.lines["p.local.kind"], 2);
    }

    #[test]
    fn duplicate_keys_are_an_error_with_both_lines() {
        let err = parse("models:\n  fast: {}\n  fast: {}\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.key, "models.fast");
        assert!(err.msg.contains("first on line 2"), "{}", err.msg);
    }
}
