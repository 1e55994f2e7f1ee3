//! The xDS rule-set resource: wire bytes → model → compiled table.
//!
//! The input is the `value` of a `mockplane.config.v1.RuleSet` resource, as a control plane
//! sends it. Checks, beyond not panicking or hanging: a refusal names its place and says what
//! is wrong; splitting the resource into its rules (what a data plane does to reuse rules
//! compiled before) agrees with decoding it whole; a decoded rule set encodes and decodes back
//! to itself; and it goes through the same compile and probes as a rules file.

use mockplane_proto::convert::{rule_from_bytes, rule_set_from_any, rule_set_to_any, split_rule_set};
use mockplane_proto::wkt::Any;
use mockplane_proto::RULE_SET_TYPE_URL;

/// The target: `data` as the bytes of a rule-set resource.
pub fn xds(data: &[u8]) {
    let any = Any { type_url: RULE_SET_TYPE_URL.to_owned(), value: bytes::Bytes::copy_from_slice(data) };
    let set = match rule_set_from_any(&any) {
        Ok(set) => set,
        Err(e) => {
            assert!(!e.place.is_empty() && !e.message.is_empty(), "{e:?}");
            return;
        }
    };
    let split = split_rule_set(&any).expect("a resource that decodes whole splits");
    assert_eq!(split.rules.len(), set.rules.len());
    assert_eq!(split.head.project, set.project);
    assert_eq!(split.head.variables, set.variables);
    assert_eq!(split.head.upstreams, set.upstreams);
    for (i, (bytes, rule)) in split.rules.iter().zip(&set.rules).enumerate() {
        let alone = rule_from_bytes(bytes, i).expect("a rule that decoded in the whole decodes alone");
        assert!(same(&alone, rule), "a rule decodes alone as another rule:\n{alone:?}\n{rule:?}");
    }
    let again = rule_set_from_any(&rule_set_to_any(&set)).expect("a decoded rule set's own encoding decodes");
    assert!(same(&again, &set), "a decoded rule set does not survive encoding:\n{again:?}\n{set:?}");
    let _ = crate::rules::compile_and_probe(&set);
}

/// Equal, or equal but for a NaN somewhere (a fault probability: the model holds any `f64`, the
/// compiler refuses it), which is never `==` to itself. Debug shows every float exactly, NaN
/// as `NaN`.
fn same<T: PartialEq + std::fmt::Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}
