//! What a recorded function keeps of its op's declaration: which inputs
//! need a gradient, which inputs and outputs backward reads, and other
//! tensors ([`Plan`]), packed into one byte beside the links of a function
//! with up to two inputs and one output ([`Marks`]). [`Save`](crate::Save)
//! builds it; backward reads it, and a function that lets go of its links
//! drops it with them.

use crate::Tensor;

/// A set of small indices (inputs, outputs): one word inline, more on the
/// heap only past 64, so that recording an op builds it without allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bits {
    low: u64,
    /// Indices from 64 on, 64 a word; `None` until one is set (a null
    /// pointer: the common set is one word and a null check).
    high: Option<Box<[u64]>>,
}

impl Bits {
    /// The indices below 64, as bits.
    #[inline]
    pub(crate) fn low(&self) -> u64 {
        self.low
    }

    /// The set of the indices below 64 whose bits `low` has.
    #[inline]
    pub(crate) fn from_low(low: u64) -> Self {
        Bits { low, high: None }
    }

    /// `true` if `index` is in the set.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> bool {
        if index < 64 {
            self.low >> index & 1 != 0
        } else {
            (self.high.as_ref())
                .and_then(|high| high.get(index / 64 - 1))
                .is_some_and(|word| word >> (index % 64) & 1 != 0)
        }
    }

    /// Puts `index` in the set.
    #[inline]
    pub(crate) fn set(&mut self, index: usize) {
        if index < 64 {
            self.low |= 1 << index;
        } else {
            let word = index / 64 - 1;
            let high = self.high.take().unwrap_or_default();
            let mut high = if high.len() <= word {
                let mut grown = high.into_vec();
                grown.resize(word + 1, 0);
                grown.into_boxed_slice()
            } else {
                high
            };
            high[word] |= 1 << (index % 64);
            self.high = Some(high);
        }
    }

    /// Takes `index` out of the set.
    #[inline]
    pub(crate) fn unset(&mut self, index: usize) {
        if index < 64 {
            self.low &= !(1 << index);
        } else if let Some(word) =
            (self.high.as_mut()).and_then(|high| high.get_mut(index / 64 - 1))
        {
            *word &= !(1 << (index % 64));
        }
    }

    /// `true` unless the set is empty.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.low != 0
            || self
                .high
                .iter()
                .flat_map(|high| high.iter())
                .any(|&word| word != 0)
    }

    fn heap_bytes(&self) -> usize {
        self.high
            .as_ref()
            .map_or(0, |high| std::mem::size_of_val(&**high))
    }
}

/// What a recorded function keeps for backward: which inputs need a
/// gradient, which inputs and outputs backward reads, and other tensors.
pub(crate) struct Plan {
    pub(crate) needs: Bits,
    pub(crate) inputs: Bits,
    pub(crate) outputs: Bits,
    /// `None` for none (dropping the plan of an op that saves none checks
    /// one pointer).
    pub(crate) tensors: Option<Box<[Tensor]>>,
}

impl Plan {
    /// The bytes the plan's lists hold on the heap (beyond its own size).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.needs.heap_bytes()
            + self.inputs.heap_bytes()
            + self.outputs.heap_bytes()
            + self.tensors.as_deref().map_or(0, std::mem::size_of_val)
    }
}

/// A recorded function's plan, as its links keep it.
pub(crate) enum Planned {
    /// Packed beside the tag of inline links.
    Packed(Marks),
    /// Out of line, with the links.
    Wide(Plan),
}

/// A function's plan packed into one byte, beside the tag of its inline
/// links (so a node with up to two inputs and one output grows by nothing):
/// bits 0–1 whether input 0/1 needs a gradient, bits 2–3 whether backward
/// reads input 0/1, bit 4 whether it reads the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Marks(u8);

/// The shift of the saved-input bits.
pub(crate) const SAVES_INPUT: u8 = 2;
/// The saved-output bit.
pub(crate) const SAVES_OUTPUT: u8 = 1 << 4;

impl Marks {
    /// Which inputs need a gradient, as a set.
    #[inline]
    pub(crate) fn needs_bits(self) -> Bits {
        Bits::from_low(u64::from(self.0 & 0b11))
    }

    pub(crate) fn saves_input(self, input: usize) -> bool {
        input < 2 && self.0 & (1 << (SAVES_INPUT as usize + input)) != 0
    }

    pub(crate) fn saves_output(self, output: usize) -> bool {
        output == 0 && self.0 & SAVES_OUTPUT != 0
    }

    /// The marks of these bits.
    pub(crate) fn from_bits(bits: u8) -> Self {
        Marks(bits)
    }
}
