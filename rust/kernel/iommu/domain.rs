// SPDX-License-Identifier: GPL-2.0

//! IOMMU paging domains owned by a driver: an I/O address space that the
//! driver fills with [`Domain::map`] and puts a device behind with
//! [`Domain::attach`], the way `vhost_vdpa` gives a platform-IOMMU vDPA
//! device the user's mappings.
//!
//! C header: [`include/linux/iommu.h`](srctree/include/linux/iommu.h)

use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    error::{
        from_err_ptr,
        to_result, //
    },
    prelude::*,
    sync::aref::ARef,
};
use core::ptr::NonNull;

/// Access permissions of a mapping ([`Domain::map`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prot(u32);

impl Prot {
    /// The device may read.
    pub const READ: Prot = Prot(bindings::IOMMU_READ);
    /// The device may write.
    pub const WRITE: Prot = Prot(bindings::IOMMU_WRITE);
    /// The device's accesses are cache coherent (needs
    /// [`Domain::cache_coherent`]).
    pub const CACHE: Prot = Prot(bindings::IOMMU_CACHE);
}

impl core::ops::BitOr for Prot {
    type Output = Prot;

    fn bitor(self, o: Prot) -> Prot {
        Prot(self.0 | o.0)
    }
}

/// A paging domain, empty when allocated, freed when dropped.
///
/// # Invariants
///
/// `self.0` was allocated by `iommu_paging_domain_alloc_flags` and is owned
/// by `self`.
pub struct Domain(NonNull<bindings::iommu_domain>);

// SAFETY: The IOMMU core serialises changes of a domain's page table
// internally; a domain may be used and freed from any thread.
unsafe impl Send for Domain {}
// SAFETY: As above.
unsafe impl Sync for Domain {}

impl Domain {
    /// Whether the IOMMU in front of `dev` enforces cache coherency
    /// ([`Prot::CACHE`]), which a device that bypasses the DMA API needs.
    pub fn cache_coherent(dev: &Device<Bound>) -> bool {
        // SAFETY: `dev` is a valid device.
        unsafe {
            bindings::device_iommu_capable(
                dev.as_raw(),
                bindings::iommu_cap_IOMMU_CAP_CACHE_COHERENCY,
            )
        }
    }

    /// Allocates an empty paging domain for the IOMMU in front of `dev`.
    pub fn alloc_paging(dev: &Device<Bound>) -> Result<Self> {
        // SAFETY: `dev` is a valid, bound device; the result is a new
        // domain or an error pointer.
        let d =
            from_err_ptr(unsafe { bindings::iommu_paging_domain_alloc_flags(dev.as_raw(), 0) })?;
        // INVARIANT: Allocated just above, owned by the result.
        Ok(Self(NonNull::new(d).ok_or(ENOMEM)?))
    }

    fn as_raw(&self) -> *mut bindings::iommu_domain {
        self.0.as_ptr()
    }

    /// The IOVAs the domain can map, first and last.
    pub fn aperture(&self) -> (u64, u64) {
        // SAFETY: The domain is valid (type invariant); its geometry is set
        // at allocation.
        let g = unsafe { &(*self.as_raw()).geometry };
        (g.aperture_start, g.aperture_end)
    }

    /// Maps `iova..iova + size` to `paddr..` (page aligned). The IOTLB is
    /// up to date when it returns.
    pub fn map(&self, iova: u64, paddr: u64, size: u64, prot: Prot) -> Result {
        let iova = usize::try_from(iova).map_err(|_| ERANGE)?;
        let size = usize::try_from(size).map_err(|_| ERANGE)?;
        // SAFETY: The domain is valid; a bad range is an error of the call.
        to_result(unsafe {
            bindings::iommu_map(
                self.as_raw(),
                iova,
                paddr,
                size,
                prot.0 as c_int,
                GFP_KERNEL.as_raw(),
            )
        })
    }

    /// Unmaps what is mapped in `iova..iova + size`; returns how many bytes
    /// were. The IOTLB is flushed when it returns: the device can no longer
    /// reach those pages.
    pub fn unmap(&self, iova: u64, size: u64) -> usize {
        let (Ok(iova), Ok(size)) = (usize::try_from(iova), usize::try_from(size)) else {
            return 0;
        };
        // SAFETY: The domain is valid.
        unsafe { bindings::iommu_unmap(self.as_raw(), iova, size) }
    }

    /// Puts `dev` (alone in its IOMMU group) behind this domain, in place
    /// of its DMA API domain, until the result is dropped. The device's
    /// driver must not use the DMA API meanwhile, and the result must be
    /// dropped before the device is unbound.
    pub fn attach(self, dev: &Device<Bound>) -> Result<AttachedDomain> {
        // SAFETY: Both are valid; the caller's device is bound.
        to_result(unsafe { bindings::iommu_attach_device(self.as_raw(), dev.as_raw()) })?;
        Ok(AttachedDomain {
            domain: self,
            dev: dev.into(),
        })
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // SAFETY: Ours (type invariant); an attached domain is detached
        // before it is dropped (`AttachedDomain`); freed once.
        unsafe { bindings::iommu_domain_free(self.as_raw()) }
    }
}

/// A [`Domain`] with a device behind it ([`Domain::attach`]); the device is
/// detached, then the domain freed, when it is dropped.
///
/// # Invariants
///
/// `dev` is attached to `domain`.
pub struct AttachedDomain {
    domain: Domain,
    dev: ARef<Device>,
}

impl core::ops::Deref for AttachedDomain {
    type Target = Domain;

    fn deref(&self) -> &Domain {
        &self.domain
    }
}

impl Drop for AttachedDomain {
    fn drop(&mut self) {
        // SAFETY: `dev` is attached to `domain` (type invariant).
        unsafe { bindings::iommu_detach_device(self.domain.as_raw(), self.dev.as_raw()) }
    }
}
