//! Floats that may be NaN or infinite, in JSON. serde_json writes them as `null`, which reads back
//! as an error and shows a figure as missing; fields that can hold them use this module
//! (`#[serde(with = "sim::float")]`, or [`option`] for an `Option<f64>`): a finite value is a JSON
//! number as before, NaN and ±infinity are the strings `"NaN"`, `"inf"` and `"-inf"` (what Rust
//! prints for them), and both forms read back.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of a value that is not finite, as Rust prints it.
fn name(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// Writes `v`: a number if finite, else `"NaN"`, `"inf"` or `"-inf"`.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() { s.serialize_f64(*v) } else { s.serialize_str(name(*v)) }
}

/// Reads a number, or one of the strings [`serialize`] writes.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(FloatVisitor)
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, or \"NaN\", \"inf\" or \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

/// A float written as [`serialize`] writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Float, D::Error> {
        deserialize(d).map(Float)
    }
}

/// The same for an `Option<f64>` (`None` stays `null`).
pub mod option {
    use super::*;

    /// Writes `None` as `null`, a value as [`super::serialize`] does.
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Float).serialize(s)
    }

    /// Reads what [`serialize`] writes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Float>::deserialize(d)?.map(|f| f.0))
    }
}

/// The same for the values of an optional map (`None` stays `null`).
pub mod option_map {
    use std::collections::BTreeMap;

    use super::*;

    /// Writes each value as [`super::serialize`] does.
    pub fn serialize<S: Serializer, K: Serialize + Ord>(m: &Option<BTreeMap<K, f64>>, s: S) -> Result<S::Ok, S::Error> {
        m.as_ref().map(|m| m.iter().map(|(k, v)| (k, Float(*v))).collect::<BTreeMap<&K, Float>>()).serialize(s)
    }

    /// Reads what [`serialize`] writes.
    pub fn deserialize<'de, D, K>(d: D) -> Result<Option<BTreeMap<K, f64>>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
    {
        let m = Option::<BTreeMap<K, Float>>::deserialize(d)?;
        Ok(m.map(|m| m.into_iter().map(|(k, v)| (k, v.0)).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Row {
        #[serde(with = "crate::float")]
        x: f64,
        #[serde(with = "crate::float::option")]
        y: Option<f64>,
    }

    #[test]
    fn non_finite_values_are_written_as_themselves_and_read_back() {
        for (x, text) in
            [(f64::NAN, "\"NaN\""), (f64::INFINITY, "\"inf\""), (f64::NEG_INFINITY, "\"-inf\""), (1.5, "1.5")]
        {
            let json = serde_json::to_string(&Row { x, y: Some(x) }).unwrap();
            assert_eq!(json, format!("{{\"x\":{text},\"y\":{text}}}"));
            let back: Row = serde_json::from_str(&json).unwrap();
            assert!(back.x.total_cmp(&x).is_eq() && back.y.unwrap().total_cmp(&x).is_eq(), "{json}");
        }
        let back: Row = serde_json::from_str("{\"x\": 3, \"y\": null}").unwrap();
        assert_eq!((back.x, back.y), (3.0, None));
        let e = serde_json::from_str::<Row>("{\"x\": \"nan\", \"y\": null}").unwrap_err();
        assert!(e.to_string().contains("expected a number, or \"NaN\""), "{e}");
    }
}
