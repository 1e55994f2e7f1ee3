//! Hand-written `Deserialize` for the model's "short or explicit" shapes.
//!
//! `#[serde(untagged)]` would accept the same inputs, but on a mistake inside the explicit form
//! it only says "data did not match any variant", and it loses the error's place. Dispatching on
//! the input's type instead keeps serde's own message (`unknown field `equal``) and its path.

use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::model::{HeaderValues, MethodMatch, PathMatch, Templating, Upstream, ValueMatch};

/// Implements `Deserialize` for an enum with a string form and a map or sequence form.
macro_rules! string_or {
    ($ty:ident, $expecting:literal, str => $str_variant:ident, map => $map_variant:expr) => {
        string_or!(@impl $ty, $expecting, $str_variant,
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$ty, A::Error> {
                Deserialize::deserialize(MapAccessDeserializer::new(map)).map($map_variant)
            });
    };
    ($ty:ident, $expecting:literal, str => $str_variant:ident, seq => $seq_variant:expr) => {
        string_or!(@impl $ty, $expecting, $str_variant,
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<$ty, A::Error> {
                Deserialize::deserialize(SeqAccessDeserializer::new(seq)).map($seq_variant)
            });
    };
    (@impl $ty:ident, $expecting:literal, $str_variant:ident, $other:item) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        Ok($ty::$str_variant(v.to_owned()))
                    }
                    $other
                }
                deserializer.deserialize_any(V)
            }
        }
    };
}

string_or!(MethodMatch, "a method name, a list of method names, or ANY",
    str => One, seq => MethodMatch::AnyOf);
string_or!(HeaderValues, "a header value or a list of header values",
    str => One, seq => HeaderValues::Many);
string_or!(PathMatch, "a path string or one of {exact, prefix, template, regex}",
    str => Short, map => PathMatch::Explicit);
string_or!(ValueMatch,
    "a string (equals) or one of {equals, contains, regex, present, absent, not, and, or, has_exactly, includes}",
    str => Equals, map => |spec| ValueMatch::Spec(Box::new(spec)));
string_or!(Upstream,
    "a base URL (http://host:port) or a cluster {endpoints, lb, connect_timeout_ms, request_timeout_ms, max_connections, base_path, outlier_detection, retries}",
    str => Url, map => |c| Upstream::Cluster(Box::new(c)));

/// `template: true | false | wiremock`.
impl<'de> Deserialize<'de> for Templating {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Templating;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or wiremock")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Templating, E> {
                Ok(Templating::from(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Templating, E> {
                match v {
                    "wiremock" => Ok(Templating::WireMock),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}
