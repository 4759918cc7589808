// SPDX-License-Identifier: GPL-2.0

//! vDPA bus drivers: drivers that drive vDPA devices of any parent, as
//! `virtio_vdpa` and `vhost_vdpa` do.
//!
//! A bus driver implements [`Driver`] and registers it with
//! [`Registration`]. Its probe gets the device ([`BusDevice`]) and a
//! [`Handle`]: the device's config ops can be called through the handle from
//! anything that outlives the probe (a file, another device), until the
//! abstraction revokes it right after [`Driver::remove`]; from then on
//! [`Handle::with`] fails with `ENODEV` and nothing calls the parent.
//!
//! C header: [`include/linux/vdpa.h`](srctree/include/linux/vdpa.h)

use super::DmaModel;
use crate::{
    bindings,
    container_of,
    device,
    error::{
        from_result,
        to_result, //
    },
    eventfd::EventFd,
    new_mutex,
    prelude::*,
    sync::{
        aref::{
            ARef,
            AlwaysRefCounted, //
        },
        new_spinlock_irq,
        Arc,
        Mutex,
        SpinLockIrq, //
    },
    types::Opaque,
    vhost::iotlb::{
        Iotlb,
        OwnedIotlb,
        Perm, //
    },
    ThisModule, //
};
use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr::NonNull, //
};

/// A vDPA bus driver.
pub trait Driver: Send + Sync + 'static {
    /// Data given to [`Registration::new`], which every probe can see.
    type Context: Send + Sync;

    /// The driver's data of a bound device.
    type Data: Send;

    /// True if the driver binds only to devices whose `driver_override`
    /// names it. The vDPA bus otherwise matches every driver with every
    /// device; the abstraction then answers other devices' probes with
    /// `ENODEV`, which the driver core takes as "not mine".
    const OVERRIDE_ONLY: bool;

    /// Binds the driver to `dev`. `handle` reaches the device's config ops
    /// until the device is unbound. Process context.
    fn probe(
        dev: &BusDevice<device::Core<'_>>,
        handle: &Arc<Handle>,
        ctx: &Self::Context,
    ) -> impl PinInit<Self::Data, Error>;

    /// Unbinds the driver from `dev`: called before the handle is revoked,
    /// the device reset and `data` dropped. May sleep.
    fn remove(dev: &BusDevice<device::Core<'_>>, data: Pin<&Self::Data>) {
        let _ = (dev, data);
    }
}

/// A vDPA device as a bus driver sees it: of any parent, Rust or C.
///
/// # Invariants
///
/// A [`BusDevice`] instance represents a valid `struct vdpa_device`
/// registered by its parent, with valid config ops.
#[repr(transparent)]
pub struct BusDevice<Ctx: device::DeviceContext = device::Normal>(
    Opaque<bindings::vdpa_device>,
    PhantomData<Ctx>,
);

impl<Ctx: device::DeviceContext> BusDevice<Ctx> {
    fn as_raw(&self) -> *mut bindings::vdpa_device {
        self.0.get()
    }

    /// The number of virtqueues.
    pub fn nvqs(&self) -> u32 {
        // SAFETY: The device is valid (type invariant); `nvqs` is set at
        // registration and never changes.
        unsafe { (*self.as_raw()).nvqs }
    }

    /// The number of address spaces.
    pub fn nas(&self) -> u32 {
        // SAFETY: As for `nvqs`.
        unsafe { (*self.as_raw()).nas }
    }

    /// True if the device takes user virtual addresses (VDUSE).
    pub fn use_va(&self) -> bool {
        // SAFETY: As for `nvqs`.
        unsafe { (*self.as_raw()).use_va }
    }
}

impl BusDevice<device::Bound> {
    fn ops(&self) -> &bindings::vdpa_config_ops {
        // SAFETY: The device is valid and its `config` points to the
        // parent's static ops (type invariant).
        unsafe { &*(*self.as_raw()).config }
    }

    /// The virtio device id (`VIRTIO_ID_*`).
    pub fn device_id(&self) -> u32 {
        // The op is mandatory: the vDPA core calls it unconditionally.
        let f = self.ops().get_device_id.unwrap_or(no_u32);
        // SAFETY: The device is bound, so the parent's ops may be called.
        unsafe { f(self.as_raw()) }
    }

    /// The features the device offers.
    pub fn device_features(&self) -> u64 {
        let f = self.ops().get_device_features.unwrap_or(no_u64);
        // SAFETY: As for `device_id`.
        unsafe { f(self.as_raw()) }
    }

    /// The features the driver set.
    pub fn driver_features(&self) -> u64 {
        let f = self.ops().get_driver_features.unwrap_or(no_u64);
        // SAFETY: As for `device_id`.
        unsafe { f(self.as_raw()) }
    }

    /// Sets the driver's features (`vdpa_set_features`); `EINVAL` if the
    /// device refuses them.
    pub fn set_features(&self, features: u64) -> Result {
        // SAFETY: As for `device_id`; the helper takes `cf_lock`.
        match unsafe { bindings::vdpa_set_features(self.as_raw(), features) } {
            0 => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// The device status (`VIRTIO_CONFIG_S_*`).
    pub fn status(&self) -> u8 {
        let f = self.ops().get_status.unwrap_or(no_u8);
        // SAFETY: As for `device_id`.
        unsafe { f(self.as_raw()) }
    }

    /// Sets the device status (`vdpa_set_status`); 0 is a reset, for which
    /// [`BoundDevice::reset`] reports errors.
    pub fn set_status(&self, status: u8) {
        // SAFETY: As for `device_id`; the function takes `cf_lock`.
        unsafe { bindings::vdpa_set_status(self.as_raw(), status) }
    }

    /// Resets the device (`vdpa_reset` without flags). The parent forgets
    /// the callbacks; [`BoundDevice::reset`] installs them again.
    fn reset_raw(&self) -> Result {
        // SAFETY: As for `device_id`; the helper takes `cf_lock`.
        to_result(unsafe { bindings::vdpa_reset(self.as_raw(), 0) })
    }

    /// The size of the device's config space in bytes.
    pub fn config_size(&self) -> usize {
        let Some(f) = self.ops().get_config_size else {
            return 0;
        };
        // SAFETY: As for `device_id`.
        unsafe { f(self.as_raw()) }
    }

    /// Reads the config space from `offset` into `buf`; `EINVAL` unless it
    /// lies within [`BusDevice::config_size`].
    pub fn get_config(&self, offset: usize, buf: &mut [u8]) -> Result {
        self.check_config(offset, buf.len())?;
        // SAFETY: As for `device_id`; `buf` is valid for `buf.len()` bytes,
        // which fit in the config space (checked).
        unsafe {
            bindings::vdpa_get_config(
                self.as_raw(),
                offset as c_uint,
                buf.as_mut_ptr().cast(),
                buf.len() as c_uint,
            )
        };
        Ok(())
    }

    /// Writes `buf` to the config space at `offset`; `EINVAL` unless it lies
    /// within [`BusDevice::config_size`].
    pub fn set_config(&self, offset: usize, buf: &[u8]) -> Result {
        self.check_config(offset, buf.len())?;
        // SAFETY: As for `get_config`; the function only reads `buf`.
        unsafe {
            bindings::vdpa_set_config(
                self.as_raw(),
                offset as c_uint,
                buf.as_ptr().cast(),
                buf.len() as c_uint,
            )
        };
        Ok(())
    }

    fn check_config(&self, offset: usize, len: usize) -> Result {
        let size = self.config_size();
        match offset.checked_add(len) {
            Some(end) if len > 0 && end <= size => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// The largest virtqueue size the device supports.
    pub fn vq_num_max(&self) -> u16 {
        // The op is mandatory: the vDPA core calls it at probe.
        let f = self.ops().get_vq_num_max.unwrap_or(no_u16);
        // SAFETY: As for `device_id`.
        unsafe { f(self.as_raw()) }
    }

    /// Sets the size of virtqueue `idx`; `EINVAL` for a queue the device
    /// does not have.
    pub fn set_vq_num(&self, idx: u16, num: u32) -> Result {
        if u32::from(idx) >= self.nvqs() {
            return Err(EINVAL);
        }
        let f = self.ops().set_vq_num.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`; `idx` is a queue of the device.
        unsafe { f(self.as_raw(), idx, num) };
        Ok(())
    }

    /// The size of virtqueue `idx` the device prefers (`get_vq_size`), else
    /// its maximum.
    pub fn vq_size(&self, idx: u16) -> Result<u16> {
        self.check_vq(idx)?;
        match self.ops().get_vq_size {
            // SAFETY: As for `device_id`; `idx` is a queue of the device.
            Some(f) => Ok(unsafe { f(self.as_raw(), idx) }),
            None => Ok(self.vq_num_max()),
        }
    }

    fn check_vq(&self, idx: u16) -> Result {
        if u32::from(idx) < self.nvqs() {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// Sets where virtqueue `idx`'s descriptor table, driver (avail) and
    /// device (used) areas are, as the device addresses memory.
    pub fn set_vq_address(&self, idx: u16, desc: u64, driver: u64, device: u64) -> Result {
        self.check_vq(idx)?;
        let f = self.ops().set_vq_address.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`; `idx` is a queue of the device.
        to_result(unsafe { f(self.as_raw(), idx, desc, driver, device) })
    }

    /// Enables or disables virtqueue `idx`.
    pub fn set_vq_ready(&self, idx: u16, ready: bool) -> Result {
        self.check_vq(idx)?;
        let f = self.ops().set_vq_ready.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `set_vq_address`.
        unsafe { f(self.as_raw(), idx, ready) };
        Ok(())
    }

    /// Whether virtqueue `idx` is enabled.
    pub fn vq_ready(&self, idx: u16) -> Result<bool> {
        self.check_vq(idx)?;
        let f = self.ops().get_vq_ready.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `set_vq_address`.
        Ok(unsafe { f(self.as_raw(), idx) })
    }

    /// Sets where the device resumes a split virtqueue: the next available
    /// index it reads.
    pub fn set_vq_avail_index(&self, idx: u16, avail: u16) -> Result {
        self.check_vq(idx)?;
        let f = self.ops().set_vq_state.ok_or(EOPNOTSUPP)?;
        let mut state = bindings::vdpa_vq_state::default();
        state.__bindgen_anon_1.split.avail_index = avail;
        // SAFETY: As for `set_vq_address`; `state` is valid during the call.
        to_result(unsafe { f(self.as_raw(), idx, &state) })
    }

    /// The next available index the device reads on split virtqueue `idx`.
    pub fn vq_avail_index(&self, idx: u16) -> Result<u16> {
        self.check_vq(idx)?;
        let f = self.ops().get_vq_state.ok_or(EOPNOTSUPP)?;
        let mut state = bindings::vdpa_vq_state::default();
        // SAFETY: As for `set_vq_address`; `state` is valid for writes.
        to_result(unsafe { f(self.as_raw(), idx, &mut state) })?;
        // SAFETY: The split member is the one for split virtqueues; every
        // bit pattern is a valid `u16`.
        Ok(unsafe { state.__bindgen_anon_1.split.avail_index })
    }

    /// Notifies the device of new buffers on virtqueue `idx`. Any context
    /// may call it (the vDPA convention: `virtio_vdpa` kicks under spinlocks).
    pub fn kick_vq(&self, idx: u16) -> Result {
        self.check_vq(idx)?;
        let f = self.ops().kick_vq.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `set_vq_address`.
        unsafe { f(self.as_raw(), idx) };
        Ok(())
    }

    /// The number of virtqueue groups.
    pub fn ngroups(&self) -> u32 {
        // SAFETY: As for `nvqs`.
        unsafe { (*self.as_raw()).ngroups }
    }

    /// The group of virtqueue `idx` (0 if the device has one group).
    pub fn vq_group(&self, idx: u16) -> Result<u32> {
        self.check_vq(idx)?;
        match self.ops().get_vq_group {
            // SAFETY: As for `set_vq_address`.
            Some(f) => Ok(unsafe { f(self.as_raw(), idx) }),
            None => Ok(0),
        }
    }

    /// Puts virtqueue group `group` in address space `asid`; `EINVAL` for a
    /// group or address space the device does not have.
    pub fn set_group_asid(&self, group: u32, asid: u32) -> Result {
        if group >= self.ngroups() || asid >= self.nas() {
            return Err(EINVAL);
        }
        let f = self.ops().set_group_asid.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`; both are in range.
        to_result(unsafe { f(self.as_raw(), group, asid) })
    }

    /// The IOVAs the device can use, first and last (all of them if the
    /// parent does not say).
    pub fn iova_range(&self) -> (u64, u64) {
        match self.ops().get_iova_range {
            Some(f) => {
                // SAFETY: As for `device_id`.
                let r = unsafe { f(self.as_raw()) };
                (r.first, r.last)
            }
            None => (0, u64::MAX),
        }
    }

    /// The vhost backend features the parent offers (`VHOST_BACKEND_F_*` bits).
    pub fn backend_features(&self) -> u64 {
        match self.ops().get_backend_features {
            // SAFETY: As for `device_id`.
            Some(f) => unsafe { f(self.as_raw()) },
            None => 0,
        }
    }

    /// Replaces the mappings of address space `asid` with those of `iotlb`
    /// (physical addresses), for [`DmaModel::Batch`] devices. The parent
    /// copies what it needs before returning.
    pub fn set_map(&self, asid: u32, iotlb: &Iotlb) -> Result {
        if asid >= self.nas() {
            return Err(EINVAL);
        }
        let f = self.ops().set_map.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`; `iotlb` is valid and unchanged during
        // the call.
        to_result(unsafe { f(self.as_raw(), asid, iotlb.as_raw()) })
    }

    /// The device that does the DMA of a [`DmaModel::Platform`] device (the
    /// PCI function behind it), whose IOMMU translates its accesses.
    pub fn dma_device(&self) -> Option<&device::Device<device::Bound>> {
        // SAFETY: The device is valid; `vmap` is set at allocation; for a
        // device that takes physical addresses through the platform IOMMU
        // its `dma_dev` member is the device that does the DMA.
        let dev = unsafe { (*self.as_raw()).vmap.dma_dev };
        if dev.is_null() || self.use_va() {
            return None;
        }
        // SAFETY: `dev` is valid while the vDPA device is registered. A
        // parent unregisters its vDPA devices (which unbinds them from this
        // driver first) before its own driver unbinds from the DMA device,
        // so while this device is bound, so is the DMA device.
        Some(unsafe { device::Device::<device::Normal>::from_raw(dev).as_bound() })
    }

    /// Maps `iova..iova + size` to physical address `pa` in address space
    /// `asid`, for [`DmaModel::Incremental`] devices.
    pub fn dma_map(&self, asid: u32, iova: u64, size: u64, pa: u64, perm: Perm) -> Result {
        if asid >= self.nas() || size == 0 {
            return Err(EINVAL);
        }
        let f = self.ops().dma_map.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`; `asid` is in range; no opaque data.
        to_result(unsafe {
            f(
                self.as_raw(),
                asid,
                iova,
                size,
                pa,
                perm.as_raw(),
                core::ptr::null_mut(),
            )
        })
    }

    /// Removes the mappings that intersect `iova..iova + size` from address
    /// space `asid`, for [`DmaModel::Incremental`] devices. The parent
    /// returns once no access through them is in progress.
    pub fn dma_unmap(&self, asid: u32, iova: u64, size: u64) -> Result {
        if asid >= self.nas() || size == 0 {
            return Err(EINVAL);
        }
        let f = self.ops().dma_unmap.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`; `asid` is in range.
        to_result(unsafe { f(self.as_raw(), asid, iova, size) })
    }

    /// Whether the device can be suspended ([`BusDevice::suspend`]).
    pub fn can_suspend(&self) -> bool {
        self.ops().suspend.is_some() && self.ops().resume.is_some()
    }

    /// Stops the device's data path, keeping its state, until
    /// [`BusDevice::resume`].
    pub fn suspend(&self) -> Result {
        let f = self.ops().suspend.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`.
        to_result(unsafe { f(self.as_raw()) })
    }

    /// Resumes a suspended device.
    pub fn resume(&self) -> Result {
        let f = self.ops().resume.ok_or(EOPNOTSUPP)?;
        // SAFETY: As for `device_id`.
        to_result(unsafe { f(self.as_raw()) })
    }

    /// The Linux IRQ that signals virtqueue `idx`, if the parent has one of
    /// its own for it (`get_vq_irq`; parents allocate them at `DRIVER_OK`).
    pub fn vq_irq(&self, idx: u16) -> Option<u32> {
        self.check_vq(idx).ok()?;
        let f = self.ops().get_vq_irq?;
        // SAFETY: As for `set_vq_address`.
        u32::try_from(unsafe { f(self.as_raw(), idx) }).ok()
    }

    /// The doorbell of virtqueue `idx` as a page userspace may map, if the
    /// parent has one (`get_vq_notification`) that is a whole, page-aligned
    /// page: a store to it kicks the queue.
    #[cfg(CONFIG_RUST_VFIO_MDEV_ABSTRACTIONS)]
    pub fn vq_doorbell(&self, idx: u16) -> Option<crate::vfio::IoPage> {
        self.check_vq(idx).ok()?;
        let f = self.ops().get_vq_notification?;
        // SAFETY: As for `set_vq_address`.
        let area = unsafe { f(self.as_raw(), idx) };
        let page = crate::page::PAGE_SIZE as u64;
        if area.addr == 0 || area.addr % page != 0 || area.size < page {
            return None;
        }
        // SAFETY: A parent's notification area is the queue's doorbell, I/O
        // memory of its device that the vDPA contract lets userspace map
        // (vhost-vdpa maps it); the whole page is the area's.
        Some(unsafe { crate::vfio::IoPage::from_pfn((area.addr / page) as usize) })
    }

    /// Installs the callbacks of `calls` (one per queue, then the config
    /// space's).
    fn install_callbacks(&self, calls: &[Pin<KBox<CallSlot>>]) {
        let ops = self.ops();
        for (i, slot) in calls.iter().enumerate() {
            let slot: &CallSlot = slot;
            let mut cb = bindings::vdpa_callback {
                callback: Some(call_trampoline),
                private: core::ptr::from_ref(slot).cast_mut().cast(),
                trigger: core::ptr::null_mut(),
            };
            if i < self.nvqs() as usize {
                if let Some(f) = ops.set_vq_cb {
                    // SAFETY: As for `device_id`; the parent copies `cb`; the
                    // slot outlives the installation (see `CallSlot`).
                    unsafe { f(self.as_raw(), i as u16, &mut cb) };
                }
            } else if let Some(f) = ops.set_config_cb {
                // SAFETY: As above.
                unsafe { f(self.as_raw(), &mut cb) };
            }
        }
    }

    /// Removes every callback.
    fn clear_callbacks(&self) {
        let ops = self.ops();
        let mut cb = bindings::vdpa_callback::default();
        for i in 0..self.nvqs() {
            if let Some(f) = ops.set_vq_cb {
                // SAFETY: As for `device_id`; an empty callback.
                unsafe { f(self.as_raw(), i as u16, &mut cb) };
            }
        }
        if let Some(f) = ops.set_config_cb {
            // SAFETY: As above.
            unsafe { f(self.as_raw(), &mut cb) };
        }
    }

    /// How the device takes its mappings (the precedence of `vhost_vdpa`).
    pub fn dma_model(&self) -> DmaModel {
        let ops = self.ops();
        if ops.dma_map.is_some() {
            DmaModel::Incremental
        } else if ops.set_map.is_some() {
            DmaModel::Batch
        } else {
            DmaModel::Platform
        }
    }

    /// Gives address space `asid` an empty map, so that the device reaches
    /// no memory through it (a parent's default map may be an identity map
    /// of all physical memory). `EOPNOTSUPP` for [`DmaModel::Platform`]
    /// devices, which translate through the platform IOMMU.
    pub fn set_empty_map(&self, asid: u32) -> Result {
        match self.dma_model() {
            // The range covers every IOVA.
            DmaModel::Incremental => self.dma_unmap(asid, 0, u64::MAX),
            DmaModel::Batch => self.set_map(asid, OwnedIotlb::new(1)?.iotlb()),
            DmaModel::Platform => Err(EOPNOTSUPP),
        }
    }
}

// Fallbacks for ops every parent has (the vDPA core calls them without
// checking), so that a missing one answers 0 rather than crashing.
extern "C" fn no_u64(_: *mut bindings::vdpa_device) -> u64 {
    0
}
extern "C" fn no_u32(_: *mut bindings::vdpa_device) -> u32 {
    0
}
extern "C" fn no_u16(_: *mut bindings::vdpa_device) -> u16 {
    0
}
extern "C" fn no_u8(_: *mut bindings::vdpa_device) -> u8 {
    0
}

// SAFETY: `BusDevice` is a transparent wrapper of a type that doesn't depend
// on `BusDevice`'s generic argument.
kernel::impl_device_context_deref!(unsafe { BusDevice });

impl<Ctx: device::DeviceContext> AsRef<device::Device<Ctx>> for BusDevice<Ctx> {
    fn as_ref(&self) -> &device::Device<Ctx> {
        // SAFETY: By the type invariant the device is valid.
        let dev = unsafe { &raw mut (*self.as_raw()).dev };
        // SAFETY: `dev` points to a valid `struct device`.
        unsafe { device::Device::from_raw(dev) }
    }
}

// SAFETY: Instances of `BusDevice` are always reference counted through
// their `struct device`.
unsafe impl AlwaysRefCounted for BusDevice {
    fn inc_ref(&self) {
        // SAFETY: The existence of a shared reference means the refcount is
        // non-zero.
        unsafe { bindings::get_device(&raw mut (*self.as_raw()).dev) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        let vdev = obj.as_ptr().cast::<bindings::vdpa_device>();
        // SAFETY: The safety requirements guarantee a non-zero refcount.
        unsafe { bindings::put_device(&raw mut (*vdev).dev) };
    }
}

// SAFETY: The device is reference counted and its config ops may be called
// from any thread (the vDPA bus drivers do).
unsafe impl Send for BusDevice {}
// SAFETY: As above.
unsafe impl Sync for BusDevice {}

/// Where the callback of a queue, or of the config space, signals: an
/// eventfd, or nothing.
///
/// # Invariants
///
/// A slot is installed as a callback's private data only while the device is
/// bound; the abstraction removes the callbacks before the binding, which
/// holds the slots' [`Handle`], is dropped.
#[pin_data]
pub struct CallSlot {
    #[pin]
    fd: SpinLockIrq<Option<EventFd>>,
}

/// The callback of every queue and of the config space.
///
/// # Safety
///
/// Called by a parent with the private data installed by
/// `install_callbacks`: a live [`CallSlot`].
unsafe extern "C" fn call_trampoline(private: *mut c_void) -> bindings::irqreturn_t {
    // SAFETY: By the safety requirements, `private` is a live slot.
    let slot = unsafe { &*private.cast::<CallSlot>() };
    if let Some(fd) = slot.fd.lock().as_ref() {
        fd.signal();
    }
    bindings::irqreturn_IRQ_HANDLED
}

/// The device of a binding, for as long as it is bound, and where its
/// callbacks signal.
///
/// The callbacks of every queue and of the config space are installed at
/// probe and after every [`BoundDevice::reset`] (parents forget them at a
/// reset); each signals the eventfd set with [`Handle::set_vq_call`] or
/// [`Handle::set_config_call`], if any.
///
/// # Invariants
///
/// `dev` is `Some` only while the device is bound to the driver that got
/// this handle in its probe: the abstraction sets it to `None` after
/// [`Driver::remove`], before the device is unbound. `calls` has one slot
/// per queue and one for the config space, never reallocated.
#[pin_data]
pub struct Handle {
    #[pin]
    dev: Mutex<Option<ARef<BusDevice>>>,
    calls: KVec<Pin<KBox<CallSlot>>>,
}

/// A bound device, lent by [`Handle::with`].
pub struct BoundDevice<'a> {
    dev: &'a BusDevice<device::Bound>,
    calls: &'a [Pin<KBox<CallSlot>>],
}

impl core::ops::Deref for BoundDevice<'_> {
    type Target = BusDevice<device::Bound>;

    fn deref(&self) -> &Self::Target {
        self.dev
    }
}

impl BoundDevice<'_> {
    /// Resets the device (`vdpa_reset` without flags) and installs the
    /// callbacks again.
    pub fn reset(&self) -> Result {
        let r = self.dev.reset_raw();
        self.dev.install_callbacks(self.calls);
        r
    }
}

impl Handle {
    /// Calls `f` with the bound device, holding the handle's lock (which
    /// delays the unbinding); `ENODEV` if the device was unbound.
    pub fn with<R>(&self, f: impl FnOnce(&BoundDevice<'_>) -> Result<R>) -> Result<R> {
        let guard = self.dev.lock();
        let dev: &BusDevice = guard.as_deref().ok_or(ENODEV)?;
        let ptr: *const BusDevice = dev;
        // SAFETY: `dev` is `Some`, so the device is bound (type invariant)
        // until the lock is released; `BusDevice` is transparent over a type
        // that does not depend on the context.
        let dev = unsafe { &*ptr.cast::<BusDevice<device::Bound>>() };
        f(&BoundDevice {
            dev,
            calls: &self.calls,
        })
    }

    /// Makes the callback of virtqueue `idx` signal `fd` (nothing: `None`);
    /// `EINVAL` for a queue the device does not have. Returns the eventfd it
    /// signalled before.
    pub fn set_vq_call(&self, idx: u16, fd: Option<EventFd>) -> Result<Option<EventFd>> {
        let slot = self.calls[..self.calls.len() - 1]
            .get(usize::from(idx))
            .ok_or(EINVAL)?;
        Ok(core::mem::replace(&mut *slot.fd.lock(), fd))
    }

    /// Makes the config-change callback signal `fd` (nothing: `None`).
    /// Returns the eventfd it signalled before.
    pub fn set_config_call(&self, fd: Option<EventFd>) -> Option<EventFd> {
        // There is always the config space's slot, last.
        let slot = &self.calls[self.calls.len() - 1];
        core::mem::replace(&mut *slot.fd.lock(), fd)
    }

    fn revoke(&self) {
        // INVARIANT: From now on `dev` is `None`; an operation in progress
        // ends before the lock is taken.
        *self.dev.lock() = None;
    }
}

/// What the abstraction stores with a bound device.
#[pin_data]
struct Binding<T: Driver> {
    handle: Arc<Handle>,
    #[pin]
    data: T::Data,
}

/// The registration of a vDPA bus driver.
///
/// # Invariants
///
/// `drv` is at offset 0 and registered with the vDPA bus, with the callbacks
/// of `T`; `ctx` is initialised before the registration.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct Registration<T: Driver> {
    #[pin]
    drv: Opaque<bindings::vdpa_driver>,
    ctx: T::Context,
}

// SAFETY: Nothing but the context is reachable through a shared reference,
// and the context is `Sync`.
unsafe impl<T: Driver> Sync for Registration<T> {}
// SAFETY: Registration and unregistration may run on any thread; the context
// is `Send`.
unsafe impl<T: Driver> Send for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers the vDPA bus driver `name` of `module`; every probe sees
    /// `ctx`.
    pub fn new(
        name: &'static CStr,
        module: &'static ThisModule,
        ctx: T::Context,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // `ctx` comes first: a probe can run as soon as `drv` registers.
            ctx,
            drv <- Opaque::try_ffi_init(|ptr: *mut bindings::vdpa_driver| {
                // SAFETY: `try_ffi_init` gives memory valid for writes.
                unsafe {
                    ptr.write(bindings::vdpa_driver::default());
                    (*ptr).driver.name = name.as_char_ptr();
                    (*ptr).probe = Some(Self::probe_callback);
                    (*ptr).remove = Some(Self::remove_callback);
                }
                // SAFETY: `ptr` is initialised and stays pinned until
                // `vdpa_unregister_driver` in `drop`.
                to_result(unsafe { bindings::__vdpa_register_driver(ptr, module.0) })
            }),
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA bus with a valid device being bound to this driver.
    unsafe extern "C" fn probe_callback(vdev: *mut bindings::vdpa_device) -> c_int {
        // SAFETY: The device is valid during the call, its device lock held.
        let dev = unsafe { &*vdev.cast::<BusDevice<device::CoreInternal<'_>>>() };
        // SAFETY: The driver core sets `driver` before calling probe; it is
        // the `struct device_driver` of our `vdpa_driver`, at offset 0 of a
        // `Registration<T>` that outlives every binding.
        let reg = unsafe {
            let drv = (*vdev).dev.driver;
            let vdrv = container_of!(drv, bindings::vdpa_driver, driver);
            &*vdrv.cast::<Self>()
        };
        from_result(|| {
            if T::OVERRIDE_ONLY {
                // SAFETY: Both pointers are valid; the helper takes the
                // override's lock.
                let m = unsafe {
                    bindings::device_match_driver_override(&raw mut (*vdev).dev, (*vdev).dev.driver)
                };
                if m <= 0 {
                    return Err(ENODEV);
                }
            }
            let normal: &BusDevice = dev;
            let n = normal.nvqs() as usize + 1;
            let mut calls = KVec::with_capacity(n, GFP_KERNEL)?;
            for _ in 0..n {
                calls.push(
                    KBox::pin_init(
                        pin_init!(CallSlot {
                            fd <- new_spinlock_irq!(None, "vdpa::driver::CallSlot"),
                        }),
                        GFP_KERNEL,
                    )?,
                    GFP_KERNEL,
                )?;
            }
            let handle = Arc::pin_init(
                pin_init!(Handle {
                    dev <- new_mutex!(Some(ARef::from(normal))),
                    calls,
                }),
                GFP_KERNEL,
            )?;
            let slots = handle.clone();
            let data = try_pin_init!(Binding::<T> {
                handle: handle.clone(),
                data <- T::probe(dev, handle, &reg.ctx),
            });
            let bound: &BusDevice<device::Bound> = dev;
            if let Err(e) = dev.as_ref().set_drvdata(data) {
                // In case a failed probe reset the device through the handle.
                bound.clear_callbacks();
                return Err(e);
            }
            // The slots live in the handle, which the binding holds until
            // after `remove_callback` has removed the callbacks.
            bound.install_callbacks(&slots.calls);
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA bus with a device bound by `probe_callback`.
    unsafe extern "C" fn remove_callback(vdev: *mut bindings::vdpa_device) {
        // SAFETY: The device is valid during the call, its device lock held.
        let dev = unsafe { &*vdev.cast::<BusDevice<device::CoreInternal<'_>>>() };
        {
            // SAFETY: `probe_callback` succeeded and stored a `Binding<T>`.
            let b = unsafe { dev.as_ref().drvdata_borrow::<Binding<T>>() };
            // SAFETY: `data` is structurally pinned.
            T::remove(dev, unsafe { b.map_unchecked(|b| &b.data) });
            b.handle.revoke();
        }
        // Stop whatever the driver left running; nothing calls the parent
        // for this binding after this.
        let _ = dev.reset_raw();
        dev.clear_callbacks();
        // SAFETY: As above; this is the last use of the data.
        drop(unsafe { dev.as_ref().drvdata_obtain::<Binding<T>>() });
    }

    /// The context given to [`Registration::new`].
    pub fn context(&self) -> &T::Context {
        &self.ctx
    }
}

#[pinned_drop]
impl<T: Driver> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered (type invariant); this unbinds every device.
        unsafe { bindings::vdpa_unregister_driver(self.drv.get()) };
    }
}
