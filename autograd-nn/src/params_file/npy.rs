//! The `.npy` format (`numpy.lib.format`): one array as a header (magic,
//! version, header length, a Python dict literal with `descr`,
//! `fortran_order` and `shape`) and then its elements' bytes.
//!
//! Read by hand rather than through a crate: the reader checks the shape's
//! size against the bytes that follow the header before it allocates, so a
//! header that claims more than the file holds is an error, never an
//! allocation that aborts the process.

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};

use crate::{Error, Result};

/// The first bytes of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// NumPy pads the header so that the elements start at a multiple of this
/// (`numpy.lib.format.ARRAY_ALIGN`), which lets a reader map them in place.
const ALIGN: usize = 64;

/// The `.npy` bytes of `array` as NumPy writes a float64 array: format
/// version 1.0, `'<f8'`, C order (the elements in `array`'s logical order,
/// whatever its memory layout).
pub(super) fn encode(array: ArrayViewD<'_, f64>) -> Vec<u8> {
    let shape = match array.shape() {
        [] => "()".to_owned(),
        [n] => format!("({n},)"),
        dims => {
            let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    // Version 1.0 gives the header's length 2 bytes; only a shape of
    // thousands of axes needs version 2.0's 4 (NumPy switches the same way).
    let wide = MAGIC.len() + 2 + 2 + header.len() + 1 > usize::from(u16::MAX);
    let prefix = MAGIC.len() + 2 + if wide { 4 } else { 2 };
    // Padded with spaces, then the newline that ends it.
    let unpadded = prefix + header.len() + 1;
    header.extend(std::iter::repeat_n(
        ' ',
        unpadded.next_multiple_of(ALIGN) - unpadded,
    ));
    header.push('\n');
    let mut out = Vec::with_capacity(prefix + header.len() + 8 * array.len());
    out.extend_from_slice(MAGIC);
    match (
        wide,
        u16::try_from(header.len()),
        u32::try_from(header.len()),
    ) {
        (false, Ok(length), _) => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&length.to_le_bytes());
        }
        (_, _, length) => {
            out.extend_from_slice(&[2, 0]);
            // Past 4 GiB of header the array could not exist in memory.
            out.extend_from_slice(&length.unwrap_or(u32::MAX).to_le_bytes());
        }
    }
    out.extend_from_slice(header.as_bytes());
    for &x in array.iter() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// The float64 array in `bytes`, a whole `.npy` file: the array named
/// `name` in the parameter file at `path` (both for errors).
///
/// # Errors
/// [`Error::ClaimedSize`] when the header's length or the shape's size
/// exceeds the bytes there (checked before allocating), and
/// [`Error::ParamArray`] for anything else that is not a float64 `.npy`
/// array: a wrong magic string or version, a header that does not parse,
/// another element type, bytes left over after the elements.
pub(super) fn decode(bytes: &[u8], path: &Path, name: &str) -> Result<ArrayD<f64>> {
    let malformed = |reason: String| Error::ParamArray {
        path: path.to_path_buf(),
        name: name.to_owned(),
        reason,
    };
    let Some((magic, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(malformed(format!(
            "{} bytes: too short for .npy",
            bytes.len()
        )));
    };
    if magic[..6] != MAGIC[..] {
        return Err(malformed(
            "not a .npy array (no \\x93NUMPY magic)".to_owned(),
        ));
    }
    // Versions 2.0 and 3.0 widen the header length to 4 bytes (3.0 allows
    // UTF-8 in the header).
    let (length, rest) = match (magic[6], magic[7]) {
        (1, 0) => match rest.split_first_chunk::<2>() {
            Some((length, rest)) => (u64::from(u16::from_le_bytes(*length)), rest),
            None => return Err(malformed("the header length is cut off".to_owned())),
        },
        (2 | 3, 0) => match rest.split_first_chunk::<4>() {
            Some((length, rest)) => (u64::from(u32::from_le_bytes(*length)), rest),
            None => return Err(malformed("the header length is cut off".to_owned())),
        },
        (major, minor) => {
            return Err(malformed(format!(
                ".npy format version {major}.{minor} is not supported"
            )));
        }
    };
    let claimed_size = |part: String, claimed: u128, available: usize| Error::ClaimedSize {
        path: path.to_path_buf(),
        part,
        claimed,
        available: available as u64,
    };
    let header_len = match usize::try_from(length) {
        Ok(len) if len <= rest.len() => len,
        _ => {
            let part = format!("{name:?}'s .npy header");
            return Err(claimed_size(part, u128::from(length), rest.len()));
        }
    };
    let (header, data) = rest.split_at(header_len);
    let header = std::str::from_utf8(header)
        .map_err(|_| malformed("the .npy header is not text".to_owned()))?;
    let Header {
        descr,
        fortran_order,
        shape,
    } = parse_header(header).map_err(|reason| malformed(format!("the .npy header {reason}")))?;
    let from_bytes: fn([u8; 8]) -> f64 = match descr.as_str() {
        "<f8" => f64::from_le_bytes,
        ">f8" => f64::from_be_bytes,
        other => {
            return Err(malformed(format!(
                "element type {other:?}, not float64 ('<f8')"
            )));
        }
    };
    // In u128, saturating: a shape whose size overflows even that claims
    // more than any file holds, which is all the check needs to know.
    let count = if shape.contains(&0) {
        0
    } else {
        shape
            .iter()
            .fold(1u128, |n, &d| n.saturating_mul(u128::from(d)))
    };
    let claimed = count.saturating_mul(8);
    if claimed > data.len() as u128 {
        let part = format!("{name:?}'s elements (shape {shape:?}, float64)");
        return Err(claimed_size(part, claimed, data.len()));
    }
    if claimed < data.len() as u128 {
        let extra = data.len() as u128 - claimed;
        return Err(malformed(format!(
            "{extra} bytes follow the elements of shape {shape:?}"
        )));
    }
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| malformed(format!("shape {shape:?} has an axis too long for memory")))?;
    let mut values = Vec::new();
    values
        .try_reserve_exact(data.len() / 8)
        .map_err(|_| Error::Io {
            path: path.to_path_buf(),
            source: std::io::ErrorKind::OutOfMemory.into(),
        })?;
    values.extend(
        data.chunks_exact(8)
            .map(|b| from_bytes(b.try_into().unwrap_or([0; 8]))),
    );
    let dim = IxDyn(&shape);
    let array = if fortran_order {
        ArrayD::from_shape_vec(dim.f(), values)
    } else {
        ArrayD::from_shape_vec(dim, values)
    };
    array.map_err(|e| malformed(format!("shape {shape:?}: {e}")))
}

/// What a `.npy` header says.
#[derive(Debug, PartialEq)]
struct Header {
    /// The element type, as NumPy's `dtype.str` (`'<f8'`).
    descr: String,
    /// `true` when the elements are in column-major order.
    fortran_order: bool,
    /// The array's shape.
    shape: Vec<u64>,
}

/// A value in a `.npy` header's dict.
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Parses the header's dict literal, e.g.
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }`: the
/// subset of Python's literal syntax that `numpy.lib.format` writes
/// (strings, `True`/`False`, tuples of integers), and exactly the three
/// keys, as NumPy requires. The error says what is wrong ("has ...").
fn parse_header(text: &str) -> Result<Header, String> {
    let mut p = Parser {
        rest: text.trim_end_matches([' ', '\n']),
    };
    p.expect('{')?;
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    while !p.eat('}') {
        let key = p.string()?;
        p.expect(':')?;
        let value = p.value()?;
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) if descr.is_none() => descr = Some(s),
            ("fortran_order", Value::Bool(b)) if fortran_order.is_none() => fortran_order = Some(b),
            ("shape", Value::Tuple(t)) if shape.is_none() => shape = Some(t),
            (key, _) => return Err(format!("has an unexpected or repeated entry {key:?}")),
        }
        if !p.eat(',') {
            p.expect('}')?;
            break;
        }
    }
    if !p.rest.trim_start().is_empty() {
        return Err(format!("has {:?} after its dict", p.rest));
    }
    match (descr, fortran_order, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header {
            descr,
            fortran_order,
            shape,
        }),
        _ => Err("lacks one of 'descr', 'fortran_order' and 'shape'".to_owned()),
    }
}

/// A cursor over a header's text.
struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    /// Skips white space, then consumes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.rest = self.rest.trim_start();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("has {:?} where {c:?} belongs", self.snippet()))
        }
    }

    /// A few characters from here, for an error.
    fn snippet(&self) -> String {
        self.rest.chars().take(12).collect()
    }

    /// A string in single or double quotes, without escapes (NumPy's
    /// keys and type strings have none).
    fn string(&mut self) -> Result<String, String> {
        self.rest = self.rest.trim_start();
        let quote = match self.rest.chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(format!("has {:?} where a string belongs", self.snippet())),
        };
        let body = &self.rest[1..];
        let end = body
            .find(quote)
            .ok_or_else(|| "has a string without its closing quote".to_owned())?;
        if body[..end].contains('\\') {
            return Err("has a string with an escape".to_owned());
        }
        self.rest = &body[end + 1..];
        Ok(body[..end].to_owned())
    }

    fn value(&mut self) -> Result<Value, String> {
        self.rest = self.rest.trim_start();
        if self.rest.starts_with(['\'', '"']) {
            return self.string().map(Value::Str);
        }
        for (word, b) in [("True", true), ("False", false)] {
            if let Some(rest) = self.rest.strip_prefix(word) {
                self.rest = rest;
                return Ok(Value::Bool(b));
            }
        }
        self.expect('(')?;
        let mut items = Vec::new();
        while !self.eat(')') {
            items.push(self.integer()?);
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        Ok(Value::Tuple(items))
    }

    /// A non-negative integer that fits in `u64` (Python 2's `3L` too).
    fn integer(&mut self) -> Result<u64, String> {
        self.rest = self.rest.trim_start();
        let digits = self.rest.len()
            - self
                .rest
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        let (number, rest) = self.rest.split_at(digits);
        let value = number
            .parse()
            .map_err(|_| format!("has {:?} where an axis length belongs", self.snippet()))?;
        self.rest = rest.strip_prefix('L').unwrap_or(rest);
        Ok(value)
    }
}

/// A version 1.0 `.npy` file with this header text and these bytes after
/// it: a crafted array for tests.
#[cfg(test)]
pub(super) fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn decoded(bytes: &[u8]) -> Result<ArrayD<f64>> {
        decode(bytes, Path::new("test.npz"), "w")
    }

    #[test]
    fn encoded_arrays_decode_to_themselves_with_numpys_header() {
        for a in [
            array![[1.5, -2.0, 3.25], [0.0, 1e300, -0.0]].into_dyn(),
            array![7.0].into_dyn(),
            ndarray::arr0(4.5).into_dyn(),
            ArrayD::zeros(IxDyn(&[0, 3])),
        ] {
            let bytes = encode(a.view());
            assert_eq!((bytes.len() - 8 * a.len()) % ALIGN, 0, "elements aligned");
            assert_eq!(decoded(&bytes).unwrap(), a);
        }
        // The header NumPy 2.4's np.save writes for a (2, 3) float64 array.
        let bytes = encode(ArrayD::zeros(IxDyn(&[2, 3])).view());
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(&bytes[10..10 + header.len()], header.as_bytes());
        assert_eq!(&bytes[8..10], &118u16.to_le_bytes());
        // A transposed view is written in its logical order.
        let t = array![[1.0, 2.0], [3.0, 4.0]].reversed_axes();
        assert_eq!(decoded(&encode(t.view().into_dyn())).unwrap(), t.into_dyn());
    }

    #[test]
    fn fortran_order_big_endian_and_version_2_headers_are_read() {
        let header = "{'fortran_order': True, 'shape': (2L, 2L), 'descr': '>f8'}\n";
        let data: Vec<u8> = [1.0f64, 3.0, 2.0, 4.0]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        let a = decoded(&with_header(header, &data)).unwrap();
        assert_eq!(a, array![[1.0, 2.0], [3.0, 4.0]].into_dyn());
        let mut v2 = MAGIC.to_vec();
        let header = "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (1,)}\n";
        v2.extend_from_slice(&[2, 0]);
        v2.extend_from_slice(&(header.len() as u32).to_le_bytes());
        v2.extend_from_slice(header.as_bytes());
        v2.extend_from_slice(&2.5f64.to_le_bytes());
        assert_eq!(decoded(&v2).unwrap(), array![2.5].into_dyn());
    }

    #[test]
    fn a_shape_larger_than_the_bytes_is_refused_before_allocating() {
        // 2**59 elements: 4 EiB claimed by a 100-byte array. Allocating
        // first would abort the process; the check comes first.
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (576460752303423488,), }\n";
        let err = decoded(&with_header(header, &1.0f64.to_le_bytes())).unwrap_err();
        assert!(
            matches!(&err, Error::ClaimedSize { part, claimed, available: 8, .. }
                if part.contains("\"w\"") && *claimed == 1 << 62),
            "{err}"
        );
        // A shape whose size overflows u64, and one whose product does.
        let header =
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }\n";
        let err = decoded(&with_header(header, &[])).unwrap_err();
        assert!(
            matches!(&err, Error::ClaimedSize { claimed, .. } if *claimed == 1 << 71),
            "{err}"
        );
        let header =
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }\n";
        assert!(matches!(
            decoded(&with_header(header, &[])),
            Err(Error::ParamArray { .. })
        ));
        // A version 2.0 header length of 4 GiB in a 16-byte file.
        let mut v2 = MAGIC.to_vec();
        v2.extend_from_slice(&[2, 0]);
        v2.extend_from_slice(&u32::MAX.to_le_bytes());
        v2.extend_from_slice(b"{'de");
        let err = decoded(&v2).unwrap_err();
        assert!(
            matches!(&err, Error::ClaimedSize { claimed, available: 4, .. } if *claimed == u32::MAX.into()),
            "{err}"
        );
    }

    #[test]
    fn malformed_headers_and_other_element_types_are_errors_naming_the_array() {
        let data = 1.0f64.to_le_bytes();
        for (bytes, reason) in [
            (b"\x93NUMP".to_vec(), "too short"),
            (b"\x93NUMPX\x01\x00\x00\x00".to_vec(), "magic"),
            (b"\x93NUMPY\x04\x00\x00\x00".to_vec(), "version 4.0"),
            (
                with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n",
                    &data,
                ),
                "\"<f4\"",
            ),
            (
                with_header("{'descr': '<f8', 'shape': (1,), }\n", &data),
                "lacks",
            ),
            (
                with_header(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 'y'}\n",
                    &data,
                ),
                "\"x\"",
            ),
            (
                with_header(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': [1], }\n",
                    &data,
                ),
                "where '(' belongs",
            ),
            (
                with_header(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } x\n",
                    &data,
                ),
                "after",
            ),
            (
                with_header("{'descr': '<f8, 'fortran_order': False}\n", &data),
                "where '}' belongs",
            ),
            (
                with_header(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n",
                    &[0; 16],
                ),
                "8 bytes follow",
            ),
        ] {
            let err = decoded(&bytes).unwrap_err();
            assert!(
                matches!(&err, Error::ParamArray { name, .. } if name == "w"),
                "{err}"
            );
            assert!(err.to_string().contains(reason), "{reason}: {err}");
        }
    }
}
