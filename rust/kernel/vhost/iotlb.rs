// SPDX-License-Identifier: GPL-2.0

//! vhost IOTLB: a device's view of memory, as IOVA ranges mapped to
//! physical addresses with access permissions.
//!
//! C header: [`include/linux/vhost_iotlb.h`](srctree/include/linux/vhost_iotlb.h)

use crate::{
    bindings,
    error::to_result,
    new_spinlock,
    prelude::*,
    sync::{
        lock::{
            spinlock::SpinLockBackend,
            Guard, //
        },
        Arc,
        SpinLock, //
    },
    types::Opaque,
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// Access permissions of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm(u32);

impl Perm {
    /// The device may read.
    pub const RO: Perm = Perm(bindings::VHOST_MAP_RO);
    /// The device may write.
    pub const WO: Perm = Perm(bindings::VHOST_MAP_WO);
    /// The device may read and write.
    pub const RW: Perm = Perm(bindings::VHOST_MAP_RW);

    /// Builds a permission from the C `VHOST_MAP_*` bits, if they are valid.
    pub fn from_raw(perm: u32) -> Option<Perm> {
        if perm != 0 && perm & !bindings::VHOST_MAP_RW == 0 {
            Some(Perm(perm))
        } else {
            None
        }
    }

    /// Returns the C `VHOST_MAP_*` bits.
    pub fn as_raw(self) -> u32 {
        self.0
    }
}

/// One mapping of an IOTLB: IOVAs `start..=last` map to `addr..`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Map {
    /// The first IOVA of the range.
    pub start: u64,
    /// The last IOVA of the range (inclusive).
    pub last: u64,
    /// The address `start` maps to.
    pub addr: u64,
    /// What the device may do with the range.
    pub perm: Perm,
}

/// A borrowed C IOTLB, such as the one vhost-vdpa hands to a device's
/// `set_map` op.
///
/// # Invariants
///
/// `self.0` is a valid, initialised `struct vhost_iotlb`, and nothing
/// modifies it while this reference exists.
#[repr(transparent)]
pub struct Iotlb(Opaque<bindings::vhost_iotlb>);

impl Iotlb {
    /// Borrows a C IOTLB.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an initialised `struct vhost_iotlb` that stays
    /// valid, and is not modified, for the lifetime `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::vhost_iotlb) -> &'a Iotlb {
        // SAFETY: `Iotlb` is a transparent wrapper of the C struct, and the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The C IOTLB.
    pub(crate) fn as_raw(&self) -> *mut bindings::vhost_iotlb {
        self.0.get()
    }

    /// Iterates over the mappings that intersect `first..=last`, in IOVA order.
    pub fn maps(&self, first: u64, last: u64) -> Maps<'_> {
        // SAFETY: `self.as_raw()` is valid and not modified by the type invariants.
        let next = unsafe { bindings::vhost_iotlb_itree_first(self.as_raw(), first, last) };
        Maps {
            next,
            first,
            last,
            _p: PhantomData,
        }
    }

    /// Returns the number of mappings.
    pub fn len(&self) -> usize {
        // SAFETY: `self.as_raw()` is valid by the type invariants.
        unsafe { (*self.as_raw()).nmaps as usize }
    }

    /// Returns true if there is no mapping.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An IOTLB of its own, not shared: built by its owner, lent to a device's
/// `set_map` (which copies what it needs), dropped.
///
/// # Invariants
///
/// `self.0` was allocated by `vhost_iotlb_alloc` and is owned by `self`.
pub struct OwnedIotlb(NonNull<bindings::vhost_iotlb>);

// SAFETY: The IOTLB is plain kernel memory, used through `&mut self` for
// changes, and may be freed from any thread.
unsafe impl Send for OwnedIotlb {}
// SAFETY: A shared reference only reads it.
unsafe impl Sync for OwnedIotlb {}

impl OwnedIotlb {
    /// Creates an empty IOTLB that holds at most `limit` mappings; `EINVAL`
    /// for 0 (such an IOTLB would refuse every mapping).
    pub fn new(limit: u32) -> Result<Self> {
        if limit == 0 {
            return Err(EINVAL);
        }
        // SAFETY: Any limit is accepted; the result is NULL or a new IOTLB.
        let p = unsafe { bindings::vhost_iotlb_alloc(limit, 0) };
        // INVARIANT: Allocated just above, owned by the result.
        Ok(Self(NonNull::new(p).ok_or(ENOMEM)?))
    }

    /// Maps `start..=last` to `addr..` with the given permission. Fails with
    /// `EFAULT` if `last < start` and `ENOSPC` past the limit.
    pub fn add_range(&mut self, start: u64, last: u64, addr: u64, perm: Perm) -> Result {
        // SAFETY: The IOTLB is valid and ours (type invariant).
        to_result(unsafe {
            bindings::vhost_iotlb_add_range(self.0.as_ptr(), start, last, addr, perm.as_raw())
        })
    }

    /// The IOTLB, to read or to lend.
    pub fn iotlb(&self) -> &Iotlb {
        // SAFETY: Valid (type invariant); changes need `&mut self`.
        unsafe { Iotlb::from_raw(self.0.as_ptr()) }
    }
}

impl Drop for OwnedIotlb {
    fn drop(&mut self) {
        // SAFETY: Ours (type invariant); freed once, here.
        unsafe { bindings::vhost_iotlb_free(self.0.as_ptr()) }
    }
}

/// An iterator over the mappings of an [`Iotlb`]; see [`Iotlb::maps`].
pub struct Maps<'a> {
    next: *mut bindings::vhost_iotlb_map,
    first: u64,
    last: u64,
    _p: PhantomData<&'a Iotlb>,
}

impl Iterator for Maps<'_> {
    type Item = Map;

    fn next(&mut self) -> Option<Map> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: `self.next` is a mapping of the IOTLB borrowed for `'a`,
        // which is not modified while borrowed.
        let m = unsafe { &*self.next };
        let map = Map {
            start: m.start,
            last: m.last,
            addr: m.addr,
            perm: Perm(m.perm),
        };
        // SAFETY: As above; `itree_next` only reads the tree.
        self.next = unsafe { bindings::vhost_iotlb_itree_next(self.next, self.first, self.last) };
        Some(map)
    }
}

/// The storage of an [`AddressSpace`]: an owned, initialised C IOTLB.
///
/// # Invariants
///
/// `iotlb` was initialised with `vhost_iotlb_init` and is only modified
/// under the spinlock of the [`AddressSpace`] that contains it.
#[pin_data(PinnedDrop)]
pub struct IotlbStorage {
    #[pin]
    iotlb: Opaque<bindings::vhost_iotlb>,
}

// SAFETY: The IOTLB and its mappings are plain kernel memory that may be
// used, and freed, from any thread; `AddressSpace` serialises access.
unsafe impl Send for IotlbStorage {}

impl IotlbStorage {
    fn new(limit: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `vhost_iotlb_init` initialises every field of the slot.
            iotlb <- Opaque::ffi_init(move |slot| unsafe {
                bindings::vhost_iotlb_init(slot, limit, 0)
            }),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for IotlbStorage {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The IOTLB is initialised; `reset` frees every mapping.
        unsafe { bindings::vhost_iotlb_reset(self.iotlb.get()) };
    }
}

/// An address space of a device: an IOTLB and the spinlock that vringh takes
/// while it translates through it.
///
/// Shared through an [`Arc`] so that every vring that translates through it
/// keeps it alive.
///
/// # Examples
///
/// ```
/// use kernel::vhost::iotlb::{AddressSpace, Perm};
///
/// let space = AddressSpace::new(16)?;
/// {
///     let mut tlb = space.lock();
///     tlb.add_range(0x1000, 0x1fff, 0x8000, Perm::RW)?;
///     tlb.add_range(0x4000, 0x4fff, 0x9000, Perm::RO)?;
///     // Ranges are checked: an empty or reversed one is refused.
///     assert_eq!(tlb.add_range(0x6000, 0x5fff, 0, Perm::RO), Err(EFAULT));
///     assert_eq!(tlb.maps(0, u64::MAX).count(), 2);
///     let m = tlb.maps(0x4800, 0x4800).next().unwrap();
///     assert_eq!((m.start, m.addr, m.perm), (0x4000, 0x9000, Perm::RO));
///     tlb.del_range(0x1000, 0x1fff);
///     assert_eq!(tlb.len(), 1);
///     // The whole 64-bit space is accepted (split in two entries).
///     tlb.reset();
///     tlb.add_range(0, u64::MAX, 0, Perm::RW)?;
///     assert_eq!(tlb.len(), 2);
/// }
/// # Ok::<(), Error>(())
/// ```
#[pin_data]
pub struct AddressSpace {
    #[pin]
    inner: SpinLock<IotlbStorage>,
}

impl AddressSpace {
    /// Creates an empty address space that holds at most `limit` mappings.
    pub fn new(limit: u32) -> Result<Arc<AddressSpace>> {
        Arc::pin_init(
            pin_init!(AddressSpace {
                inner <- new_spinlock!(IotlbStorage::new(limit), "AddressSpace::inner"),
            }),
            GFP_KERNEL,
        )
    }

    /// Locks the address space for changes.
    pub fn lock(&self) -> IotlbGuard<'_> {
        IotlbGuard(self.inner.lock())
    }

    /// Returns the C IOTLB and its spinlock, for vringh.
    pub(crate) fn as_raw(&self) -> (*mut bindings::vhost_iotlb, *mut bindings::spinlock_t) {
        let lock = self.inner.as_raw();
        // The storage lives as long as `self`; vringh only uses it under the lock.
        let data = self.inner.data.get();
        // SAFETY: `data` points to the initialised storage.
        (unsafe { (*data).iotlb.get() }, lock)
    }
}

/// Exclusive access to the IOTLB of an [`AddressSpace`] (its lock is held).
pub struct IotlbGuard<'a>(Guard<'a, IotlbStorage, SpinLockBackend>);

impl IotlbGuard<'_> {
    fn raw(&self) -> *mut bindings::vhost_iotlb {
        self.0.iotlb.get()
    }

    /// Maps `start..=last` to `addr..` with the given permission.
    ///
    /// Fails with `EFAULT` if `last < start` and `ENOSPC` past the limit.
    pub fn add_range(&mut self, start: u64, last: u64, addr: u64, perm: Perm) -> Result {
        // SAFETY: The IOTLB is initialised and the lock is held.
        to_result(unsafe {
            bindings::vhost_iotlb_add_range(self.raw(), start, last, addr, perm.as_raw())
        })
    }

    /// Removes every mapping that intersects `start..=last`.
    pub fn del_range(&mut self, start: u64, last: u64) {
        // SAFETY: The IOTLB is initialised and the lock is held.
        unsafe { bindings::vhost_iotlb_del_range(self.raw(), start, last) }
    }

    /// Removes every mapping.
    pub fn reset(&mut self) {
        // SAFETY: The IOTLB is initialised and the lock is held.
        unsafe { bindings::vhost_iotlb_reset(self.raw()) }
    }

    /// Replaces the mappings with a copy of those of `from`. On failure the
    /// address space is left empty.
    pub fn copy_from(&mut self, from: &Iotlb) -> Result {
        self.reset();
        for m in from.maps(0, u64::MAX) {
            if let Err(e) = self.add_range(m.start, m.last, m.addr, m.perm) {
                self.reset();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Returns the locked IOTLB, to read it.
    pub fn iotlb(&self) -> &Iotlb {
        // SAFETY: The IOTLB is initialised, and is not modified while this
        // shared borrow of the guard exists (modification needs `&mut self`).
        unsafe { Iotlb::from_raw(self.raw()) }
    }

    /// Iterates over the mappings that intersect `first..=last`.
    pub fn maps(&self, first: u64, last: u64) -> Maps<'_> {
        self.iotlb().maps(first, last)
    }

    /// Returns the number of mappings.
    pub fn len(&self) -> usize {
        self.iotlb().len()
    }

    /// Returns true if there is no mapping.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(CONFIG_RUST_VDPA_KUNIT_TEST)]
#[macros::kunit_tests(rust_vhost_iotlb)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_enforced_and_changes_nothing() -> Result {
        let space = AddressSpace::new(2)?;
        let mut tlb = space.lock();
        tlb.add_range(0x1000, 0x1fff, 0x10000, Perm::RO)?;
        // The whole space takes two entries: one free is not enough.
        assert_eq!(tlb.add_range(0, u64::MAX, 0, Perm::RW), Err(ENOSPC));
        assert_eq!(tlb.len(), 1);
        tlb.add_range(0x3000, 0x3fff, 0x20000, Perm::WO)?;
        assert_eq!(tlb.add_range(0x5000, 0x5fff, 0, Perm::RW), Err(ENOSPC));
        assert_eq!(tlb.len(), 2);
        assert!(tlb.maps(0x5000, 0x5fff).next().is_none());
        Ok(())
    }

    #[test]
    fn del_range_removes_whole_mappings() -> Result {
        let space = AddressSpace::new(8)?;
        let mut tlb = space.lock();
        tlb.add_range(0x1000, 0x4fff, 0x10000, Perm::RW)?;
        tlb.add_range(0x8000, 0x8fff, 0x20000, Perm::RW)?;
        // A one-byte overlap removes the whole first mapping, not a part.
        tlb.del_range(0x2000, 0x2000);
        assert_eq!(tlb.len(), 1);
        assert!(tlb.maps(0x1000, 0x4fff).next().is_none());
        let m = tlb.maps(0, u64::MAX).next().ok_or(EINVAL)?;
        assert_eq!((m.start, m.last, m.addr), (0x8000, 0x8fff, 0x20000));
        Ok(())
    }

    #[test]
    fn maps_are_found_by_intersection() -> Result {
        let space = AddressSpace::new(8)?;
        let mut tlb = space.lock();
        for i in 0..4u64 {
            tlb.add_range(i * 0x2000, i * 0x2000 + 0xfff, i << 20, Perm::RW)?;
        }
        assert_eq!(tlb.maps(0x0fff, 0x2000).count(), 2);
        assert_eq!(tlb.maps(0x1000, 0x1fff).count(), 0);
        assert_eq!(tlb.maps(0x6800, u64::MAX).count(), 1);
        Ok(())
    }

    #[test]
    fn perm_from_raw_checks() {
        assert_eq!(Perm::from_raw(bindings::VHOST_MAP_RW), Some(Perm::RW));
        assert_eq!(Perm::from_raw(0), None);
        assert_eq!(Perm::from_raw(0x80), None);
    }
}
