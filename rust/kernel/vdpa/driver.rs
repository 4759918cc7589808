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
    new_mutex,
    prelude::*,
    sync::{
        aref::{
            ARef,
            AlwaysRefCounted, //
        },
        Arc, Mutex,
    },
    types::Opaque,
    ThisModule, //
};
use core::{
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
    /// [`BusDevice::reset`] reports errors.
    pub fn set_status(&self, status: u8) {
        // SAFETY: As for `device_id`; the function takes `cf_lock`.
        unsafe { bindings::vdpa_set_status(self.as_raw(), status) }
    }

    /// Resets the device (`vdpa_reset` without flags).
    pub fn reset(&self) -> Result {
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
        if asid >= self.nas() {
            return Err(EINVAL);
        }
        let ops = self.ops();
        if let Some(unmap) = ops.dma_unmap.filter(|_| ops.dma_map.is_some()) {
            // SAFETY: As for `device_id`; the range covers every IOVA.
            return to_result(unsafe { unmap(self.as_raw(), asid, 0, u64::MAX) });
        }
        let set_map = ops.set_map.ok_or(EOPNOTSUPP)?;
        // SAFETY: Allocates an empty IOTLB, or returns NULL.
        let iotlb = unsafe { bindings::vhost_iotlb_alloc(0, 0) };
        if iotlb.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: As for `device_id`; `iotlb` is valid during the call (the
        // parent copies what it needs).
        let ret = unsafe { set_map(self.as_raw(), asid, iotlb) };
        // SAFETY: Allocated above, no longer used.
        unsafe { bindings::vhost_iotlb_free(iotlb) };
        to_result(ret)
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

/// The device of a binding, for as long as it is bound.
///
/// # Invariants
///
/// `dev` is `Some` only while the device is bound to the driver that got
/// this handle in its probe: the abstraction sets it to `None` after
/// [`Driver::remove`], before the device is unbound.
#[pin_data]
pub struct Handle {
    #[pin]
    dev: Mutex<Option<ARef<BusDevice>>>,
}

impl Handle {
    /// Calls `f` with the bound device, holding the handle's lock (which
    /// delays the unbinding); `ENODEV` if the device was unbound.
    pub fn with<R>(&self, f: impl FnOnce(&BusDevice<device::Bound>) -> Result<R>) -> Result<R> {
        let guard = self.dev.lock();
        let dev: &BusDevice = guard.as_deref().ok_or(ENODEV)?;
        let ptr: *const BusDevice = dev;
        // SAFETY: `dev` is `Some`, so the device is bound (type invariant)
        // until the lock is released; `BusDevice` is transparent over a type
        // that does not depend on the context.
        f(unsafe { &*ptr.cast::<BusDevice<device::Bound>>() })
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
            let handle = Arc::pin_init(
                pin_init!(Handle {
                    dev <- new_mutex!(Some(ARef::from(normal))),
                }),
                GFP_KERNEL,
            )?;
            let data = try_pin_init!(Binding::<T> {
                handle: handle.clone(),
                data <- T::probe(dev, handle, &reg.ctx),
            });
            dev.as_ref().set_drvdata(data)?;
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
        let _ = dev.reset();
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
