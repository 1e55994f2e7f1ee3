//! Searches of a few dozen bytes, eight at a time in a `u64`.
//!
//! A request target or a JSON string is short. For such haystacks `memchr`'s dispatch to its
//! vector routines and their length checks cost more than the search itself: replacing
//! `memchr2` in `split_target` took 10 ns off every request (interleaved `select-count` runs
//! pinned to one core, 10 rules: 70.3 -> 60.0 ns). Longer haystacks (a whole body) still go to
//! `memchr`.
//!
//! Each search marks the high bit of the bytes it looks for in a word, with the classic
//! "has a zero byte" and "has a byte less than n" tricks. Those marks are exact for the lowest
//! marked byte (a borrow only marks bytes above a true match), which is the only one read.

const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `w` equal to `b` (exact for the lowest).
#[inline]
fn equal(w: u64, b: u8) -> u64 {
    let x = w ^ (LOW * u64::from(b));
    x.wrapping_sub(LOW) & !x & HIGH
}

/// The high bit of each byte of `w` below `n` (`n` at most 0x80; exact for the lowest).
#[inline]
fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LOW * u64::from(n)) & !w & HIGH
}

/// The position of the first byte of `hay` that `hits` marks in its word, or (in a haystack
/// shorter than a word) that `is_hit` accepts.
#[inline]
fn first(hay: &[u8], hits: impl Fn(u64) -> u64, is_hit: impl Fn(u8) -> bool) -> Option<usize> {
    let lowest = |marks: u64| (marks.trailing_zeros() / 8) as usize;
    let mut rest = hay;
    let mut at = 0;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let marks = hits(u64::from_le_bytes(*word));
        if marks != 0 {
            return Some(at + lowest(marks));
        }
        at += 8;
        rest = tail;
    }
    if let Some(last) = hay.last_chunk::<8>() {
        // The last eight bytes: those before `rest` were searched above and hold no match.
        let marks = hits(u64::from_le_bytes(*last));
        return (marks != 0).then(|| hay.len() - 8 + lowest(marks));
    }
    rest.iter().position(|&c| is_hit(c))
}

/// The position of the first `a` or `b` in `hay`.
#[inline]
pub(crate) fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    first(hay, |w| equal(w, a) | equal(w, b), |c| c == a || c == b)
}

/// The position of the first `"`, `\\` or control character (below 0x20) in `hay`: where a
/// JSON string without escapes ends, or is found not to be one.
#[inline]
pub(crate) fn find_string_end(hay: &[u8]) -> Option<usize> {
    first(hay, |w| equal(w, b'"') | equal(w, b'\\') | below(w, 0x20), |c| c == b'"' || c == b'\\' || c < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length up to 40, every position of a first match, with a second match after it
    /// and, around it, the bytes a borrow could mistake for a match.
    fn check(
        find: impl Fn(&[u8]) -> Option<usize>,
        naive: impl Fn(&[u8]) -> Option<usize>,
        hits: &[u8],
        near: &[u8],
    ) {
        for len in 0..40 {
            let plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(find(&plain), None, "len {len}");
            for at in 0..len {
                for &first in hits {
                    for &second in hits {
                        for &close in near {
                            let mut hay = plain.clone();
                            hay[at] = first;
                            if at + 1 < len {
                                hay[at + 1] = close;
                            }
                            if at + 3 < len {
                                hay[at + 3] = second;
                            }
                            if at > 0 {
                                hay[at - 1] = close;
                            }
                            assert_eq!(find(&hay), naive(&hay), "{hay:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_first_of_two_bytes_is_found_wherever_it_is() {
        check(
            |h| find_either(h, b'?', b'#'),
            |h| h.iter().position(|&c| c == b'?' || c == b'#'),
            b"?#",
            &[0x3e, 0x22, 0x40, 0x24, 0xbf, 0xa3],
        );
    }

    #[test]
    fn the_end_of_a_json_string_is_found_wherever_it_is() {
        check(
            find_string_end,
            |h| h.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20),
            &[b'"', b'\\', 0x00, 0x1f, b'\n'],
            &[0x20, 0x21, 0x23, 0x7f, 0x80, 0xff, 0xa2, 0xc3],
        );
    }
}
