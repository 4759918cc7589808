// SPDX-License-Identifier: GPL-2.0

//! PCI capabilities: walking a function's capability list, and the kind of
//! its BARs.
//!
//! C header: [`include/linux/pci.h`](srctree/include/linux/pci.h)

use super::{
    Bar,
    Device, //
};
use crate::{
    bindings,
    device,
    prelude::*, //
};

/// The id of a PCI capability (`PCI_CAP_ID_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapabilityId(u8);

impl CapabilityId {
    /// A vendor-specific capability (`PCI_CAP_ID_VNDR`).
    pub const VENDOR: Self = Self(bindings::PCI_CAP_ID_VNDR as u8);
    /// MSI-X (`PCI_CAP_ID_MSIX`).
    pub const MSIX: Self = Self(bindings::PCI_CAP_ID_MSIX as u8);

    /// Returns the id as the PCI specification numbers it.
    pub const fn as_raw(self) -> u8 {
        self.0
    }
}

/// The positions in config space of a function's capabilities of one id, in
/// list order.
///
/// The walk is the PCI core's (`pci_find_capability()` and
/// `pci_find_next_capability()`): it ends on a function without a capability
/// list, and after a bounded number of entries on a list that loops.
pub struct Capabilities<'a> {
    dev: &'a Device<device::Bound>,
    id: CapabilityId,
    /// The position of the last capability returned; 0 before the first.
    pos: u8,
    done: bool,
}

impl Iterator for Capabilities<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.done {
            return None;
        }
        let id = i32::from(self.id.0);
        let pos = if self.pos == 0 {
            // SAFETY: `self.dev.as_raw()` is a valid `struct pci_dev`, bound
            // to a driver for the lifetime of the borrow.
            unsafe { bindings::pci_find_capability(self.dev.as_raw(), id) }
        } else {
            // SAFETY: As above; `self.pos` is the position of a capability
            // the PCI core returned.
            unsafe { bindings::pci_find_next_capability(self.dev.as_raw(), self.pos, id) }
        };
        if pos == 0 {
            self.done = true;
            return None;
        }
        self.pos = pos;
        Some(usize::from(pos))
    }
}

impl Device<device::Bound> {
    /// Returns an iterator over the positions in config space of the
    /// function's capabilities with id `id`.
    pub fn capabilities(&self, id: CapabilityId) -> Capabilities<'_> {
        Capabilities {
            dev: self,
            id,
            pos: 0,
            done: false,
        }
    }

    /// Returns whether BAR `bar` is in I/O space (rather than memory space).
    pub fn resource_is_io(&self, bar: u32) -> Result<bool> {
        if !Bar::index_is_valid(bar) {
            return Err(EINVAL);
        }
        let bar = usize::try_from(bar)?;
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev`; `bar` is a
        // valid index into its resources (checked above).
        let flags = unsafe { (*self.as_raw()).resource[bar].flags };
        Ok(flags & (bindings::IORESOURCE_IO as usize) != 0)
    }
}
