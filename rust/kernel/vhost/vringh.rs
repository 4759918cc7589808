// SPDX-License-Identifier: GPL-2.0

//! The host side of a split virtqueue, reached through an IOTLB.
//!
//! A software device walks the rings its driver set up with [`Vring`]: it
//! takes the next descriptor chain as lists of readable and writable buffers
//! ([`Kiov`]), pulls data out of the readable ones, pushes data into the
//! writable ones and completes the chain. Every address is an IOVA translated
//! through the ring's [`AddressSpace`]; a chain that points outside the
//! mappings, loops or is otherwise malformed is an error, never an access.
//!
//! C header: [`include/linux/vringh.h`](srctree/include/linux/vringh.h)

use crate::{
    alloc::Flags, bindings, error::to_result, prelude::*, sync::Arc, types::Opaque,
    vhost::iotlb::AddressSpace,
};

/// A list of buffers of one descriptor chain: all its readable, or all its
/// writable, descriptors, as IOVA ranges.
///
/// # Invariants
///
/// `self.0` is a valid `struct vringh_kiov`: zeroed, or filled by vringh.
pub struct Kiov(Opaque<bindings::vringh_kiov>);

// The C list is not self-referential: its array is allocated apart.
impl Unpin for Kiov {}

// SAFETY: The buffer list is plain data owned by this value; vringh allocates
// its array with kmalloc, which may be freed from any thread.
unsafe impl Send for Kiov {}
// SAFETY: Shared references only read the list.
unsafe impl Sync for Kiov {}

impl Default for Kiov {
    fn default() -> Self {
        Self::new()
    }
}

impl Kiov {
    /// Creates an empty list; vringh allocates room as chains need it.
    pub fn new() -> Self {
        // INVARIANT: An all-zero `vringh_kiov` is an empty list with no array.
        Kiov(Opaque::new(pin_init::zeroed()))
    }

    fn as_raw(&self) -> *mut bindings::vringh_kiov {
        self.0.get()
    }

    /// Returns the number of bytes not yet consumed.
    pub fn len(&self) -> usize {
        // SAFETY: By the type invariants the fields are valid; `iov[i..used]`
        // are initialised entries of the array vringh allocated.
        unsafe {
            let k = &*self.as_raw();
            (k.i..k.used)
                .map(|n| (*k.iov.add(n as usize)).iov_len)
                .sum()
        }
    }

    /// Returns true when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the number of buffers in the list.
    pub fn count(&self) -> usize {
        // SAFETY: By the type invariants the fields are valid.
        unsafe { (*self.as_raw()).used as usize }
    }

    /// Skips `len` bytes (at most what is left).
    pub fn advance(&mut self, len: usize) {
        let len = len.min(self.len());
        // SAFETY: The list is valid and `len` does not go past its end.
        unsafe { bindings::vringh_kiov_advance(self.as_raw(), len) }
    }
}

impl Drop for Kiov {
    fn drop(&mut self) {
        // SAFETY: The list is valid; cleanup frees the array if vringh
        // allocated it and leaves an empty list.
        unsafe { bindings::vringh_kiov_cleanup(self.as_raw()) }
    }
}

/// The host side of one split virtqueue, translated through an IOTLB.
///
/// # Invariants
///
/// - `vrh` is a valid `struct vringh`.
/// - When `space` is `Some`, `vrh` translates through that address space,
///   which the `Arc` keeps alive.
/// - `ready` is true only after a successful `init` with an address space
///   set, so the C ring pointers are set.
pub struct Vring {
    vrh: Opaque<bindings::vringh>,
    space: Option<Arc<AddressSpace>>,
    ready: bool,
}

// The C ring is not self-referential: it points to IOVAs and to the IOTLB.
impl Unpin for Vring {}

// SAFETY: The ring is used through `&mut self` only; the IOTLB it points to is
// kept alive by `space` and locked by vringh for every translation.
unsafe impl Send for Vring {}
// SAFETY: Shared references only read the indices.
unsafe impl Sync for Vring {}

impl Default for Vring {
    fn default() -> Self {
        Self::new()
    }
}

impl Vring {
    /// Creates a ring that is not set up: every ring operation fails with
    /// `ENODEV` until [`Vring::set_address_space`] and [`Vring::init`].
    pub fn new() -> Self {
        Vring {
            vrh: Opaque::new(pin_init::zeroed()),
            space: None,
            ready: false,
        }
    }

    fn as_raw(&self) -> *mut bindings::vringh {
        self.vrh.get()
    }

    /// Makes the ring translate through `space` from now on.
    pub fn set_address_space(&mut self, space: Arc<AddressSpace>) {
        let (iotlb, lock) = space.as_raw();
        // SAFETY: `iotlb` and `lock` are initialised and live as long as
        // `space`, which is stored in `self` below and so outlives every use.
        unsafe { bindings::vringh_set_iotlb(self.as_raw(), iotlb, lock) };
        // INVARIANT: `vrh` now translates through `space`, kept here.
        self.space = Some(space);
    }

    /// Returns the address space the ring translates through.
    pub fn address_space(&self) -> Option<&Arc<AddressSpace>> {
        self.space.as_ref()
    }

    /// Sets the ring up: `num` entries (a power of two, at most 32768) with
    /// its descriptor table, driver (avail) and device (used) areas at the
    /// given IOVAs. The indices start at 0.
    ///
    /// Fails with `ENODEV` without an address space and `EINVAL` for a bad
    /// size.
    pub fn init(&mut self, features: u64, num: u32, desc: u64, avail: u64, used: u64) -> Result {
        if self.space.is_none() {
            return Err(ENODEV);
        }
        if num == 0 || num > 32768 || !num.is_power_of_two() {
            return Err(EINVAL);
        }
        self.ready = false;
        // SAFETY: `vrh` is valid. For the IOTLB flavour the area pointers are
        // IOVAs that vringh translates before every access, never dereferences.
        to_result(unsafe {
            bindings::vringh_init_iotlb(
                self.as_raw(),
                features,
                num,
                true,
                desc as usize as *mut bindings::vring_desc,
                avail as usize as *mut bindings::vring_avail,
                used as usize as *mut bindings::vring_used,
            )
        })?;
        // INVARIANT: Initialised with an address space set.
        self.ready = true;
        Ok(())
    }

    /// Makes the ring unusable until the next [`Vring::init`].
    pub fn stop(&mut self) {
        self.ready = false;
    }

    /// Returns true if the ring is set up.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Returns the number of entries.
    pub fn num(&self) -> u32 {
        // SAFETY: `vrh` is valid.
        unsafe { (*self.as_raw()).vring.num }
    }

    /// Returns the index of the next available entry the device will take.
    pub fn last_avail_idx(&self) -> u16 {
        // SAFETY: `vrh` is valid.
        unsafe { (*self.as_raw()).last_avail_idx }
    }

    /// Sets the index of the next available entry the device will take.
    pub fn set_last_avail_idx(&mut self, idx: u16) {
        // SAFETY: `vrh` is valid and exclusively borrowed.
        unsafe { (*self.as_raw()).last_avail_idx = idx }
    }

    /// Returns the index of the next used entry the device will fill.
    pub fn last_used_idx(&self) -> u16 {
        // SAFETY: `vrh` is valid.
        unsafe { (*self.as_raw()).last_used_idx }
    }

    /// Sets the index of the next used entry the device will fill.
    pub fn set_last_used_idx(&mut self, idx: u16) {
        // SAFETY: `vrh` is valid and exclusively borrowed.
        unsafe { (*self.as_raw()).last_used_idx = idx }
    }

    fn check_ready(&self) -> Result {
        if self.ready {
            Ok(())
        } else {
            Err(ENODEV)
        }
    }

    /// Takes the next available descriptor chain, if any: its readable
    /// buffers go to `riov` and its writable ones to `wiov`. Returns the
    /// chain's head, to [`Vring::complete`] it.
    ///
    /// A malformed chain (a loop, an address outside the mappings, a bad
    /// indirect table) is an error.
    pub fn getdesc(&mut self, riov: &mut Kiov, wiov: &mut Kiov, gfp: Flags) -> Result<Option<u16>> {
        self.check_ready()?;
        let mut head = 0u16;
        // SAFETY: The ring is initialised with an address space (checked
        // above); `riov`, `wiov` and `head` are valid for writes.
        let ret = unsafe {
            bindings::vringh_getdesc_iotlb(
                self.as_raw(),
                riov.as_raw(),
                wiov.as_raw(),
                &mut head,
                gfp.as_raw(),
            )
        };
        match ret {
            0 => Ok(None),
            r if r > 0 => Ok(Some(head)),
            r => Err(Error::from_errno(r)),
        }
    }

    /// Copies bytes out of the readable buffers into `dst`, consuming them.
    /// Returns how many were copied (less than `dst.len()` at the end).
    pub fn pull(&mut self, riov: &mut Kiov, dst: &mut [u8]) -> Result<usize> {
        self.check_ready()?;
        // SAFETY: The ring is initialised; `dst` is valid for `dst.len()`
        // bytes of writes.
        let r = unsafe {
            bindings::vringh_iov_pull_iotlb(
                self.as_raw(),
                riov.as_raw(),
                dst.as_mut_ptr().cast(),
                dst.len(),
            )
        };
        if r < 0 {
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r as usize)
        }
    }

    /// Copies `src` into the writable buffers, consuming them. Returns how
    /// many bytes were copied (less than `src.len()` if they are full).
    pub fn push(&mut self, wiov: &mut Kiov, src: &[u8]) -> Result<usize> {
        self.check_ready()?;
        // SAFETY: The ring is initialised; `src` is valid for `src.len()`
        // bytes of reads.
        let r = unsafe {
            bindings::vringh_iov_push_iotlb(
                self.as_raw(),
                wiov.as_raw(),
                src.as_ptr().cast(),
                src.len(),
            )
        };
        if r < 0 {
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r as usize)
        }
    }

    /// Returns the chain `head` to the driver, with `len` bytes written.
    pub fn complete(&mut self, head: u16, len: u32) -> Result {
        self.check_ready()?;
        // SAFETY: The ring is initialised.
        to_result(unsafe { bindings::vringh_complete_iotlb(self.as_raw(), head, len) })
    }

    /// Returns true if the driver wants to be notified of the chains
    /// completed since the last call.
    pub fn need_notify(&mut self) -> Result<bool> {
        self.check_ready()?;
        // SAFETY: The ring is initialised.
        let r = unsafe { bindings::vringh_need_notify_iotlb(self.as_raw()) };
        if r < 0 {
            Err(Error::from_errno(r))
        } else {
            Ok(r > 0)
        }
    }
}
