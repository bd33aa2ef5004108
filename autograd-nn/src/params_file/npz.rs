//! The `.npz` container: a zip archive whose members are `.npy` files
//! (PKWARE's APPNOTE.TXT; the subset that `numpy.savez` and
//! `numpy.savez_compressed` write, through Python's `zipfile`).
//!
//! Read from the whole file in memory: every offset and size the archive
//! states is checked against the bytes before it is used, and nothing is
//! allocated from a stated size that the file could not back, so a damaged
//! or hostile file is an error, never an abort. Members are stored or
//! deflated (flate2, the workspace's deflate); zip64 fields are read and,
//! when sizes or offsets pass 4 GiB, written.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::path::Path;

use flate2::Crc;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use crate::{Error, Result};

/// Signatures of the records this reads and writes.
const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// The extra field that holds 64-bit sizes and offsets.
const ZIP64_EXTRA: u16 = 0x0001;

/// Fixed lengths of the records.
const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
const ZIP64_END_LEN: usize = 56;
const ZIP64_LOCATOR_LEN: usize = 20;

/// Compression methods.
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// A 32-bit field at this value means "see the zip64 extra field".
const MAX32: u64 = 0xFFFF_FFFF;
const MAX16: u64 = 0xFFFF;

/// Deflate's largest expansion: a 258-byte match costs at least 2 bits,
/// so a stream of `n` bytes inflates to at most 1032·n bytes. A member
/// stating more than that is refused before anything is allocated.
const MAX_DEFLATE_RATIO: u128 = 1032;

/// Bit 0 of a member's flags: encrypted.
const ENCRYPTED: u16 = 1;
/// Bit 11 of a member's flags: the name is UTF-8.
const UTF8_NAME: u16 = 1 << 11;

/// One member, as the central directory describes it.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// The member's name, e.g. `l0/W.npy`.
    pub(super) name: String,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    size: u64,
    /// Where the member's local header starts.
    local_header: u64,
}

/// A parsed archive over the file's bytes.
pub(super) struct Archive<'a> {
    bytes: &'a [u8],
    path: &'a Path,
    members: Vec<Member>,
}

impl<'a> Archive<'a> {
    /// The members of the zip archive `bytes`, the file at `path` (for
    /// errors). Nothing is decompressed yet.
    ///
    /// # Errors
    /// [`Error::ClaimedSize`] for an offset, size or count that points past
    /// the file, [`Error::NpzFormat`] for anything else this reader does not
    /// take (not a zip file, several disks, an encrypted member, a name
    /// that is not UTF-8, two members of one name).
    pub(super) fn parse(bytes: &'a [u8], path: &'a Path) -> Result<Self> {
        let mut archive = Archive {
            bytes,
            path,
            members: Vec::new(),
        };
        let directory = archive.directory()?;
        archive.members = archive.central_directory(directory)?;
        Ok(archive)
    }

    /// The members, in the central directory's order.
    pub(super) fn members(&self) -> &[Member] {
        &self.members
    }

    /// The uncompressed bytes of `member`: borrowed from the file when
    /// stored, inflated when deflated; checked against the member's CRC-32.
    ///
    /// # Errors
    /// [`Error::ClaimedSize`] when the member's data reaches past the file
    /// or its stated size exceeds what its compressed bytes can inflate
    /// to, [`Error::NpzFormat`] for a missing local header, an unknown
    /// compression method, damaged deflate data, a size or CRC-32 that the
    /// data does not match; [`Error::Io`] (out of memory) when the stated
    /// size cannot be allocated.
    pub(super) fn read(&self, member: &Member) -> Result<Cow<'a, [u8]>> {
        let name = &member.name;
        let header = self.record::<LOCAL_LEN>(member.local_header, || {
            format!("member {name:?}'s local header")
        })?;
        if le32(header, 0) != LOCAL_HEADER {
            return Err(self.format(format!(
                "member {name:?}: no local header at byte {}",
                member.local_header
            )));
        }
        let name_len = u64::from(le16(header, 26));
        let extra_len = u64::from(le16(header, 28));
        let name_start = member.local_header + LOCAL_LEN as u64;
        let local_name = self.slice(name_start, name_len, || {
            format!("member {name:?}'s local name")
        })?;
        if local_name != name.as_bytes() {
            return Err(self.format(format!(
                "member {name:?}: its local header names {:?}",
                String::from_utf8_lossy(local_name)
            )));
        }
        let data_start = name_start + name_len + extra_len;
        let compressed = self.slice(data_start, member.compressed_size, || {
            format!("member {name:?}'s data (from byte {data_start})")
        })?;
        let data = match member.method {
            STORED if member.compressed_size == member.size => Cow::Borrowed(compressed),
            STORED => {
                return Err(self.format(format!(
                    "stored member {name:?}: {} bytes stored but a size of {}",
                    member.compressed_size, member.size
                )));
            }
            DEFLATED => Cow::Owned(self.inflate(member, compressed)?),
            method => {
                return Err(self.format(format!(
                    "member {name:?}: compression method {method} is not supported \
                     (only stored, 0, and deflate, 8)"
                )));
            }
        };
        let mut crc = Crc::new();
        crc.update(&data);
        if crc.sum() != member.crc32 {
            return Err(self.format(format!("member {name:?}: CRC-32 mismatch (damaged data)")));
        }
        Ok(data)
    }

    /// `compressed`, inflated to exactly the member's stated size.
    fn inflate(&self, member: &Member, compressed: &[u8]) -> Result<Vec<u8>> {
        let name = &member.name;
        let most = MAX_DEFLATE_RATIO * compressed.len() as u128;
        if u128::from(member.size) > most {
            return Err(Error::ClaimedSize {
                path: self.path.to_path_buf(),
                part: format!(
                    "member {name:?} (deflated from {} bytes, which inflate to at most \
                     {MAX_DEFLATE_RATIO} times as many)",
                    compressed.len()
                ),
                claimed: member.size.into(),
                available: u64::try_from(most).unwrap_or(u64::MAX),
            });
        }
        let mut out = Vec::new();
        // `try_reserve` rather than `with_capacity`: a stated size that
        // memory cannot hold is an error, not an abort.
        out.try_reserve_exact(usize::try_from(member.size).unwrap_or(usize::MAX))
            .map_err(|_| Error::Io {
                path: self.path.to_path_buf(),
                source: io::ErrorKind::OutOfMemory.into(),
            })?;
        // One byte more than stated, to tell a member that inflates to more.
        DeflateDecoder::new(compressed)
            .take(member.size.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| self.format(format!("member {name:?}: damaged deflate data: {e}")))?;
        let size = member.size;
        if out.len() as u64 > size {
            return Err(self.format(format!(
                "member {name:?} inflates to more than its size of {size} bytes"
            )));
        }
        if (out.len() as u64) < size {
            return Err(self.format(format!(
                "member {name:?} inflates to {} bytes, but its size is {size}",
                out.len()
            )));
        }
        Ok(out)
    }

    /// Where the central directory lies and how many members it lists,
    /// from the end records.
    fn directory(&self) -> Result<Directory> {
        // The end record is the last 22 bytes but for a comment of up to
        // 64 KiB, whose length it states: the last candidate whose comment
        // reaches exactly to the end of the file is it.
        let len = self.bytes.len();
        let end_at = (0..=len.saturating_sub(END_LEN))
            .rev()
            .take(usize::from(u16::MAX) + 1)
            .find(|&at| {
                let record = &self.bytes[at..];
                record.len() >= END_LEN
                    && record[..4] == END.to_le_bytes()
                    && usize::from(u16::from_le_bytes([record[20], record[21]]))
                        == record.len() - END_LEN
            })
            .ok_or_else(|| {
                self.format("no end of central directory record: not a zip file".into())
            })?;
        let end = self.record::<END_LEN>(end_at as u64, || "the end record".into())?;
        let mut directory = Directory {
            disks: (u32::from(le16(end, 4)), u32::from(le16(end, 6))),
            entries: u64::from(le16(end, 10)),
            size: u64::from(le32(end, 12)),
            offset: u64::from(le32(end, 16)),
        };
        // A zip64 archive puts a locator right before the end record, which
        // points at the zip64 end record with the 64-bit figures.
        if let Some(at) = end_at.checked_sub(ZIP64_LOCATOR_LEN) {
            let locator =
                self.record::<ZIP64_LOCATOR_LEN>(at as u64, || "the zip64 locator".into())?;
            if le32(locator, 0) == ZIP64_LOCATOR {
                let offset = le64(locator, 8);
                let end64 = self.record::<ZIP64_END_LEN>(offset, || {
                    format!("the zip64 end record (at byte {offset})")
                })?;
                if le32(end64, 0) != ZIP64_END {
                    return Err(self.format(format!("no zip64 end record at byte {offset}")));
                }
                directory = Directory {
                    disks: (le32(end64, 16), le32(end64, 20)),
                    entries: le64(end64, 32),
                    size: le64(end64, 40),
                    offset: le64(end64, 48),
                };
            }
        }
        if directory.disks != (0, 0) {
            return Err(self.format("an archive split over several disks".into()));
        }
        Ok(directory)
    }

    /// The members the central directory lists.
    fn central_directory(&self, directory: Directory) -> Result<Vec<Member>> {
        let Directory {
            entries,
            size,
            offset,
            ..
        } = directory;
        let listing = self.slice(offset, size, || {
            format!("the central directory (from byte {offset})")
        })?;
        // Each entry takes at least 46 bytes: a count the directory cannot
        // hold is refused before the loop, whose list grows entry by entry.
        let least = u128::from(entries) * CENTRAL_LEN as u128;
        if least > u128::from(size) {
            return Err(Error::ClaimedSize {
                path: self.path.to_path_buf(),
                part: format!("the central directory's {entries} entries of 46 bytes or more"),
                claimed: least,
                available: size,
            });
        }
        let mut members: Vec<Member> = Vec::new();
        let mut at = 0usize;
        for index in 0..entries {
            let part = || format!("the central directory's entry {index}");
            let fixed = listing
                .get(at..at + CENTRAL_LEN)
                .and_then(|r| <&[u8; CENTRAL_LEN]>::try_from(r).ok())
                .ok_or_else(|| self.cut_off(part(), CENTRAL_LEN, listing.len() - at))?;
            if le32(fixed, 0) != CENTRAL_HEADER {
                return Err(self.format(format!("{}: no central directory header", part())));
            }
            let flags = le16(fixed, 8);
            let lens = [le16(fixed, 28), le16(fixed, 30), le16(fixed, 32)].map(usize::from);
            let variable = lens.iter().sum::<usize>();
            let rest = listing
                .get(at + CENTRAL_LEN..at + CENTRAL_LEN + variable)
                .ok_or_else(|| self.cut_off(part(), CENTRAL_LEN + variable, listing.len() - at))?;
            let (name, rest) = rest.split_at(lens[0]);
            let extra = &rest[..lens[1]];
            at += CENTRAL_LEN + variable;

            let name = match std::str::from_utf8(name) {
                Ok(name) => name.to_owned(),
                Err(_) => {
                    return Err(self.format(format!(
                        "{}: the name {:?} is not UTF-8",
                        part(),
                        String::from_utf8_lossy(name)
                    )));
                }
            };
            if flags & ENCRYPTED != 0 {
                return Err(self.format(format!("member {name:?} is encrypted")));
            }
            let mut member = Member {
                name,
                method: le16(fixed, 10),
                crc32: le32(fixed, 16),
                compressed_size: u64::from(le32(fixed, 20)),
                size: u64::from(le32(fixed, 24)),
                local_header: u64::from(le32(fixed, 42)),
            };
            self.zip64_fields(&mut member, extra)?;
            if members.iter().any(|m| m.name == member.name) {
                return Err(self.format(format!("two members named {:?}", member.name)));
            }
            members.push(member);
        }
        Ok(members)
    }

    /// Replaces the member's 32-bit fields that are all ones with the
    /// 64-bit values of its zip64 extra field, which lists them in this
    /// order: size, compressed size, local header offset (then a disk
    /// number, which a single-disk archive never needs).
    fn zip64_fields(&self, member: &mut Member, mut extra: &[u8]) -> Result<()> {
        let fields = [member.size, member.compressed_size, member.local_header];
        if !fields.contains(&MAX32) {
            return Ok(());
        }
        let name = member.name.clone();
        while let Some((header, rest)) = extra.split_first_chunk::<4>() {
            let id = u16::from_le_bytes([header[0], header[1]]);
            let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
            let Some((body, rest)) = rest.split_at_checked(len) else {
                break;
            };
            if id == ZIP64_EXTRA {
                let mut values = body
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0xFF; 8])));
                for field in [
                    &mut member.size,
                    &mut member.compressed_size,
                    &mut member.local_header,
                ] {
                    if *field == MAX32 {
                        *field = values.next().ok_or_else(|| {
                            self.format(format!("member {name:?}: its zip64 field is too short"))
                        })?;
                    }
                }
                return Ok(());
            }
            extra = rest;
        }
        Err(self.format(format!(
            "member {name:?}: a size or offset of all ones without a zip64 field"
        )))
    }

    /// The `len` bytes from `at`, or the error that `part` claims more
    /// than the file holds.
    fn slice(&self, at: u64, len: u64, part: impl FnOnce() -> String) -> Result<&'a [u8]> {
        let available = (self.bytes.len() as u64).saturating_sub(at);
        // An empty part past the end is refused too: slicing there would panic.
        if at > self.bytes.len() as u64 || len > available {
            return Err(Error::ClaimedSize {
                path: self.path.to_path_buf(),
                part: part(),
                claimed: len.into(),
                available,
            });
        }
        // Both fit in usize now: they lie within the file's bytes.
        let (at, len) = (at as usize, len as usize);
        Ok(&self.bytes[at..at + len])
    }

    /// The fixed-length record at `at`.
    fn record<const N: usize>(
        &self,
        at: u64,
        part: impl FnOnce() -> String,
    ) -> Result<&'a [u8; N]> {
        let bytes = self.slice(at, N as u64, part)?;
        // `slice` gave exactly N bytes.
        bytes
            .try_into()
            .map_err(|_| self.format("a record of the wrong length".into()))
    }

    /// The error for a record of `len` bytes with `available` left.
    fn cut_off(&self, part: String, len: usize, available: usize) -> Error {
        Error::ClaimedSize {
            path: self.path.to_path_buf(),
            part,
            claimed: len as u128,
            available: available as u64,
        }
    }

    /// The error for an archive this reader does not take.
    fn format(&self, reason: String) -> Error {
        Error::NpzFormat {
            path: self.path.to_path_buf(),
            reason,
        }
    }
}

/// The end records' figures.
struct Directory {
    /// This disk's number and the central directory's: both 0 unless the
    /// archive is split.
    disks: (u32, u32),
    entries: u64,
    size: u64,
    offset: u64,
}

/// The little-endian `u16` at `at` of a fixed-length record.
fn le16<const N: usize>(record: &[u8; N], at: usize) -> u16 {
    u16::from_le_bytes([record[at], record[at + 1]])
}

/// The little-endian `u32` at `at` of a fixed-length record.
fn le32<const N: usize>(record: &[u8; N], at: usize) -> u32 {
    u32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
}

/// The little-endian `u64` at `at` of a fixed-length record.
fn le64<const N: usize>(record: &[u8; N], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&record[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Writes a zip archive member by member, as Python's `zipfile` does for
/// `numpy.savez` (stored) or `numpy.savez_compressed` (deflated, at zlib's
/// default level), with a fixed timestamp (1980-01-01) so that the same
/// parameters give the same file.
pub(super) struct Writer<W: Write> {
    out: W,
    deflate: bool,
    /// Write zip64 fields even where 32 bits would do (tests use it to
    /// exercise the reader's zip64 path without 4 GiB files).
    force_zip64: bool,
    /// Bytes written so far: the next member's offset.
    offset: u64,
    central: Vec<u8>,
    entries: u64,
}

/// The DOS date of 1980-01-01 (day 1, month 1, year 0 from 1980).
const DOS_DATE: u16 = (1 << 5) | 1;
/// "Made by" Unix (3), spec version 4.5: the external attributes are
/// Unix permissions.
const MADE_BY: u16 = (3 << 8) | 45;
/// A regular file, `rw-r--r--`.
const UNIX_FILE: u32 = 0o100_644 << 16;

impl<W: Write> Writer<W> {
    /// An empty archive writing to `out`; members deflated when `deflate`.
    pub(super) fn new(out: W, deflate: bool) -> Self {
        Writer {
            out,
            deflate,
            force_zip64: false,
            offset: 0,
            central: Vec::new(),
            entries: 0,
        }
    }

    /// Zip64 fields on every member and end record.
    #[cfg(test)]
    pub(super) fn force_zip64(mut self) -> Self {
        self.force_zip64 = true;
        self
    }

    /// Appends the member `name` holding `data`.
    pub(super) fn add(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut crc = Crc::new();
        crc.update(data);
        let body: Cow<'_, [u8]> = if self.deflate {
            let mut encoder = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data)?;
            Cow::Owned(encoder.finish()?)
        } else {
            Cow::Borrowed(data)
        };
        let (size, compressed) = (data.len() as u64, body.len() as u64);
        let sizes64 = self.force_zip64 || size >= MAX32 || compressed >= MAX32;
        let offset64 = self.force_zip64 || self.offset >= MAX32;
        let version = if sizes64 || offset64 { 45 } else { 20 };
        let flags = if name.is_ascii() { 0 } else { UTF8_NAME };
        let method = if self.deflate { DEFLATED } else { STORED };
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name over 64 KiB"))?;
        let field32 = |v: u64, wide: bool| if wide { MAX32 as u32 } else { v as u32 };

        // The local header's zip64 field holds both sizes, always.
        let mut local_extra = Vec::new();
        if sizes64 {
            push16(&mut local_extra, ZIP64_EXTRA);
            push16(&mut local_extra, 16);
            push64(&mut local_extra, size);
            push64(&mut local_extra, compressed);
        }
        let mut local = Vec::with_capacity(LOCAL_LEN + name.len() + local_extra.len());
        push32(&mut local, LOCAL_HEADER);
        for field in [version, flags, method, 0, DOS_DATE] {
            push16(&mut local, field);
        }
        push32(&mut local, crc.sum());
        push32(&mut local, field32(compressed, sizes64));
        push32(&mut local, field32(size, sizes64));
        push16(&mut local, name_len);
        push16(&mut local, local_extra.len() as u16);
        local.extend_from_slice(name.as_bytes());
        local.extend_from_slice(&local_extra);
        self.out.write_all(&local)?;
        self.out.write_all(&body)?;

        // The central directory's holds only the fields that overflow.
        let mut extra = Vec::new();
        if sizes64 || offset64 {
            push16(&mut extra, ZIP64_EXTRA);
            push16(
                &mut extra,
                8 * (2 * u16::from(sizes64) + u16::from(offset64)),
            );
            if sizes64 {
                push64(&mut extra, size);
                push64(&mut extra, compressed);
            }
            if offset64 {
                push64(&mut extra, self.offset);
            }
        }
        let c = &mut self.central;
        push32(c, CENTRAL_HEADER);
        for field in [MADE_BY, version, flags, method, 0, DOS_DATE] {
            push16(c, field);
        }
        push32(c, crc.sum());
        push32(c, field32(compressed, sizes64));
        push32(c, field32(size, sizes64));
        for field in [name_len, extra.len() as u16, 0, 0, 0] {
            push16(c, field);
        }
        push32(c, UNIX_FILE);
        push32(c, field32(self.offset, offset64));
        c.extend_from_slice(name.as_bytes());
        c.extend_from_slice(&extra);

        self.offset += local.len() as u64 + compressed;
        self.entries += 1;
        Ok(())
    }

    /// Writes the central directory and the end records; the writer back.
    pub(super) fn finish(mut self) -> io::Result<W> {
        let (offset, size) = (self.offset, self.central.len() as u64);
        self.out.write_all(&self.central)?;
        let zip64 = self.force_zip64 || self.entries >= MAX16 || offset >= MAX32 || size >= MAX32;
        let mut end = Vec::new();
        if zip64 {
            push32(&mut end, ZIP64_END);
            // The record's length after this field.
            push64(&mut end, (ZIP64_END_LEN - 12) as u64);
            push16(&mut end, MADE_BY);
            push16(&mut end, 45);
            push32(&mut end, 0);
            push32(&mut end, 0);
            push64(&mut end, self.entries);
            push64(&mut end, self.entries);
            push64(&mut end, size);
            push64(&mut end, offset);
            push32(&mut end, ZIP64_LOCATOR);
            push32(&mut end, 0);
            push64(&mut end, offset + size);
            push32(&mut end, 1);
        }
        let entries16 = if zip64 {
            MAX16 as u16
        } else {
            self.entries as u16
        };
        push32(&mut end, END);
        for field in [0, 0, entries16, entries16] {
            push16(&mut end, field);
        }
        push32(&mut end, if zip64 { MAX32 as u32 } else { size as u32 });
        push32(&mut end, if zip64 { MAX32 as u32 } else { offset as u32 });
        push16(&mut end, 0);
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn push64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An archive of these members, deflated or stored, zip64 or not.
    fn archive(members: &[(&str, &[u8])], deflate: bool, zip64: bool) -> Vec<u8> {
        let mut writer = Writer::new(Vec::new(), deflate);
        if zip64 {
            writer = writer.force_zip64();
        }
        for (name, data) in members {
            writer.add(name, data).unwrap();
        }
        writer.finish().unwrap()
    }

    /// Every member's name and bytes.
    fn contents(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
        let archive = Archive::parse(bytes, Path::new("t.npz"))?;
        archive
            .members()
            .iter()
            .map(|m| Ok((m.name.clone(), archive.read(m)?.into_owned())))
            .collect()
    }

    /// Where the (only) central directory entry starts: in the end
    /// record, or in the zip64 end record when that one says to look there.
    fn central_entry(bytes: &[u8]) -> usize {
        let end = bytes.len() - END_LEN;
        let offset = u32::from_le_bytes(bytes[end + 16..end + 20].try_into().unwrap());
        if u64::from(offset) != MAX32 {
            return offset as usize;
        }
        let end64 = end - ZIP64_LOCATOR_LEN - ZIP64_END_LEN;
        u64::from_le_bytes(bytes[end64 + 48..end64 + 56].try_into().unwrap()) as usize
    }

    fn patch32(bytes: &mut [u8], at: usize, v: u32) {
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    const DATA: &[u8] = b"a member's bytes, a member's bytes, a member's bytes";

    #[test]
    fn members_read_back_stored_deflated_and_zip64() {
        let members: [(&str, &[u8]); 3] = [("a.npy", DATA), ("b/c.npy", b""), ("é.npy", b"x")];
        let expected: Vec<(String, Vec<u8>)> = members
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_vec()))
            .collect();
        for deflate in [false, true] {
            for zip64 in [false, true] {
                let bytes = archive(&members, deflate, zip64);
                assert_eq!(contents(&bytes).unwrap(), expected, "{deflate} {zip64}");
            }
        }
        // Deflate pays off on repetitive bytes.
        assert!(archive(&members, true, false).len() < archive(&members, false, false).len());
    }

    /// Asserts `bytes` is refused with a `ClaimedSize` whose part mentions `part`.
    #[track_caller]
    fn claims_too_much(bytes: &[u8], part: &str) {
        match contents(bytes) {
            Err(Error::ClaimedSize { part: p, .. }) if p.contains(part) => {}
            other => panic!("{part}: {other:?}"),
        }
    }

    #[test]
    fn sizes_and_offsets_past_the_file_are_refused_before_allocating() {
        let stored = archive(&[("w.npy", DATA)], false, false);
        let entry = central_entry(&stored);
        let end = stored.len() - END_LEN;

        // A member's compressed size of 4 GiB in a 200-byte file.
        let mut bytes = stored.clone();
        patch32(&mut bytes, entry + 20, 0xFFFF_FFF0);
        claims_too_much(&bytes, "member \"w.npy\"'s data");
        // Its local header far past the end.
        let mut bytes = stored.clone();
        patch32(&mut bytes, entry + 42, 0x7FFF_FFFF);
        claims_too_much(&bytes, "local header");
        // The central directory past the end, and larger than the file.
        let mut bytes = stored.clone();
        patch32(&mut bytes, end + 16, 0x7FFF_FFFF);
        claims_too_much(&bytes, "the central directory");
        let mut bytes = stored.clone();
        patch32(&mut bytes, end + 12, 0xFFFF_FFF0);
        claims_too_much(&bytes, "the central directory");
        // 65,535 entries in a directory of one.
        let mut bytes = stored.clone();
        bytes[end + 10..end + 12].copy_from_slice(&[0xFF, 0xFF]);
        claims_too_much(&bytes, "65535 entries");

        // A deflated member stating 4 GiB inflated from a few bytes: more
        // than deflate can expand them to.
        let deflated = archive(&[("w.npy", DATA)], true, false);
        let entry = central_entry(&deflated);
        let mut bytes = deflated.clone();
        patch32(&mut bytes, entry + 24, 0xFFFF_FFF0);
        claims_too_much(&bytes, "inflate to at most");
        // A size within the ratio but not the data's: an error, no abort.
        let mut bytes = deflated.clone();
        patch32(&mut bytes, entry + 24, 1000);
        let err = contents(&bytes).unwrap_err();
        assert!(
            err.to_string()
                .contains("inflates to 52 bytes, but its size is 1000"),
            "{err}"
        );

        // Zip64: a 64-bit compressed size of 2^60 in the extra field.
        let zip64 = archive(&[("w.npy", DATA)], false, true);
        let entry = central_entry(&zip64);
        let mut bytes = zip64.clone();
        let field = entry + CENTRAL_LEN + "w.npy".len() + 4 + 8;
        bytes[field..field + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        claims_too_much(&bytes, "member \"w.npy\"'s data");
        // And the zip64 end record's directory offset.
        let mut bytes = zip64.clone();
        let end64 = bytes.len() - END_LEN - ZIP64_LOCATOR_LEN - ZIP64_END_LEN;
        bytes[end64 + 48..end64 + 56].copy_from_slice(&(1u64 << 62).to_le_bytes());
        claims_too_much(&bytes, "the central directory");
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_an_error_or_the_data_never_a_panic() {
        for deflate in [false, true] {
            let good = archive(&[("w.npy", DATA), ("v.npy", b"12345678")], deflate, deflate);
            for len in 0..good.len() {
                assert!(contents(&good[..len]).is_err(), "cut at {len}");
            }
            for at in 0..good.len() {
                let mut bytes = good.clone();
                bytes[at] ^= 0xFF;
                // The timestamps and attributes are free to change; what
                // comes back is either an error or the members' bytes.
                if let Ok(members) = contents(&bytes) {
                    let data: Vec<&[u8]> = members.iter().map(|(_, d)| d.as_slice()).collect();
                    assert_eq!(data, [DATA, b"12345678"], "byte {at}");
                }
            }
        }
    }

    #[test]
    fn what_numpy_never_writes_is_refused_by_name() {
        let stored = archive(&[("w.npy", DATA)], false, false);
        let entry = central_entry(&stored);
        for (at, value, reason) in [
            (entry + 10, 12u16, "compression method 12"),
            (entry + 8, ENCRYPTED, "encrypted"),
        ] {
            let mut bytes = stored.clone();
            bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
            let err = contents(&bytes).unwrap_err();
            assert!(matches!(err, Error::NpzFormat { .. }), "{err}");
            assert!(err.to_string().contains(reason), "{err}");
        }
        let twice = archive(&[("w.npy", DATA), ("w.npy", DATA)], false, false);
        assert!(
            contents(&twice)
                .unwrap_err()
                .to_string()
                .contains("two members")
        );
        let err = contents(b"not a zip file at all, just text").unwrap_err();
        assert!(err.to_string().contains("not a zip file"), "{err}");
    }
}
