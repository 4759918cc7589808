// SPDX-License-Identifier: GPL-2.0

//! Management devices: what `vdpa dev add` and `vdpa dev del` talk to.

use super::{
    ConfigAttrs,
    ConfigOps,
    DevSetConfig,
    Device,
    UnregisteredDevice, //
};
use crate::{
    bindings, device,
    error::{
        from_result,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    prelude::*,
    sync::aref::ARef,
    types::Opaque,
};
use core::ops::Deref;

/// What a management device creates, as `vdpa mgmtdev show` reports it.
///
/// Given when the management device is registered: a parent for hardware
/// knows it only once it has looked at the function it drives.
#[derive(Clone, Copy, Debug)]
pub struct MgmtAttrs {
    /// The virtio device id of the devices (`VIRTIO_ID_*`).
    pub device_id: u32,
    /// The attributes `vdpa dev add` may give.
    pub config_attrs: ConfigAttrs,
    /// The features the devices can offer.
    pub supported_features: u64,
    /// The largest number of virtqueues of a device.
    pub max_supported_vqs: u32,
}

/// The management side of a vDPA parent: creates and removes devices on
/// request (`vdpa dev add`, `vdpa dev del`).
#[vtable]
pub trait MgmtDriver: Sized + Send + Sync + 'static {
    /// The device type this management device creates.
    type Device: ConfigOps;

    /// Creates a device named `name` with the given attributes. The
    /// abstraction registers it on the vDPA bus.
    fn dev_add(
        mgmt: &MgmtRegistration<Self>,
        name: &CStr,
        config: &DevSetConfig,
    ) -> Result<UnregisteredDevice<Self::Device>>;

    /// Called once a device is removed from the bus (`vdpa dev del`, or the
    /// management device going away): stop what runs on the device's behalf.
    ///
    /// The abstraction unregisters the device first, so its bus driver is
    /// gone when this is called: while it was being removed the device kept
    /// working and completed what the bus driver waited for (a virtio-blk
    /// disk flushing its dirty pages, a control command under rtnl), as the
    /// C parents do. No bus driver calls an op of the device afterwards; the
    /// device itself may live on while references to it remain.
    fn dev_del(_mgmt: &MgmtRegistration<Self>, _dev: &Device<Self::Device>) {}

    /// Changes attributes of an existing device (`vdpa dev set`).
    fn dev_set_attr(
        _mgmt: &MgmtRegistration<Self>,
        _dev: &Device<Self::Device>,
        _config: &DevSetConfig,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A registered management device, with the driver's data `M`.
///
/// # Invariants
///
/// `mdev` is registered with `vdpa_mgmtdev_register` until this is dropped;
/// its `device` is `parent`, its `ops` are `Self::OPS` and its `id_table`
/// points to `id_table`. Every device it registered is a `Device<M::Device>`.
#[pin_data(PinnedDrop)]
pub struct MgmtRegistration<M: MgmtDriver> {
    #[pin]
    mdev: Opaque<bindings::vdpa_mgmt_dev>,
    #[pin]
    id_table: Opaque<[bindings::virtio_device_id; 2]>,
    parent: ARef<device::Device>,
    #[pin]
    data: M,
}

// SAFETY: The C management device may be used from any thread; `M` is
// `Send + Sync`.
unsafe impl<M: MgmtDriver> Send for MgmtRegistration<M> {}
// SAFETY: As above.
unsafe impl<M: MgmtDriver> Sync for MgmtRegistration<M> {}

impl<M: MgmtDriver> Deref for MgmtRegistration<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.data
    }
}

impl<M: MgmtDriver> MgmtRegistration<M> {
    const OPS: bindings::vdpa_mgmtdev_ops = bindings::vdpa_mgmtdev_ops {
        dev_add: Some(Self::dev_add_cb),
        dev_del: Some(Self::dev_del_cb),
        dev_set_attr: if M::HAS_DEV_SET_ATTR {
            Some(Self::dev_set_attr_cb)
        } else {
            None
        },
    };

    /// Registers a management device on `parent` (whose bus and name make the
    /// management device's name, as in `vdpa mgmtdev show`) that creates
    /// devices as `attrs` describes.
    pub fn new(
        parent: &device::Device,
        attrs: MgmtAttrs,
        data: impl PinInit<M, Error>,
    ) -> impl PinInit<Self, Error> {
        let parent: ARef<device::Device> = parent.into();
        try_pin_init!(&this in Self {
            data <- data,
            parent,
            id_table <- Opaque::ffi_init(|slot: *mut [bindings::virtio_device_id; 2]| {
                let ids = [
                    bindings::virtio_device_id {
                        device: attrs.device_id,
                        vendor: bindings::VIRTIO_DEV_ANY_ID,
                    },
                    pin_init::zeroed(),
                ];
                // SAFETY: `slot` is valid for writes.
                unsafe { slot.write(ids) };
            }),
            mdev <- Opaque::try_ffi_init(move |slot: *mut bindings::vdpa_mgmt_dev| {
                // `this` is being initialised; the fields above already are.
                let this = this.as_ptr();
                // SAFETY: `slot` is valid for writes; `id_table` and `parent`
                // are initialised and pinned with `slot`, so they outlive the
                // registration, which `drop` ends.
                unsafe {
                    slot.write(bindings::vdpa_mgmt_dev {
                        device: (*this).parent.as_raw(),
                        ops: &Self::OPS,
                        id_table: (*this).id_table.get().cast(),
                        config_attr_mask: attrs.config_attrs.bits(),
                        supported_features: attrs.supported_features,
                        max_supported_vqs: attrs.max_supported_vqs,
                        ..pin_init::zeroed()
                    });
                    to_result(bindings::vdpa_mgmtdev_register(slot))
                }
            }),
        })
    }

    /// Returns the parent device.
    pub fn parent(&self) -> &device::Device {
        &self.parent
    }

    /// # Safety
    ///
    /// `mdev` must be the `mdev` field of a live `MgmtRegistration<M>`.
    unsafe fn from_mdev<'a>(mdev: *mut bindings::vdpa_mgmt_dev) -> &'a Self {
        // SAFETY: By the safety requirements `mdev` is a field of `Self`.
        unsafe { &*crate::container_of!(Opaque::cast_from(mdev).cast_mut(), Self, mdev) }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with the registered management device.
    unsafe extern "C" fn dev_add_cb(
        mdev: *mut bindings::vdpa_mgmt_dev,
        name: *const c_char,
        config: *const bindings::vdpa_dev_set_config,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with the registered management
        // device, under its device lock.
        let this = unsafe { Self::from_mdev(mdev) };
        // SAFETY: `name` and `config` are valid for the call.
        let (name, config) =
            unsafe { (CStr::from_char_ptr(name), DevSetConfig::from_raw(&*config)) };
        from_result(|| {
            let new = M::dev_add(this, name, &config)?;
            let vdpa = new.dev.as_raw();
            // SAFETY: The device is not registered yet and is ours; the vDPA
            // device lock is held, as `_vdpa_register_device` requires.
            unsafe {
                (*vdpa).mdev = mdev;
                to_result(bindings::_vdpa_register_device(vdpa, new.nvqs))?;
            }
            // The registration owns the initial reference from now on;
            // `_vdpa_unregister_device` drops it.
            let _ = ARef::into_raw(new.dev);
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with the registered management device and one of its devices.
    unsafe extern "C" fn dev_del_cb(
        mdev: *mut bindings::vdpa_mgmt_dev,
        vdev: *mut bindings::vdpa_device,
    ) {
        // SAFETY: The vDPA core calls the ops with the registered management
        // device, under its device lock.
        let this = unsafe { Self::from_mdev(mdev) };
        // SAFETY: Every device of this management device is a `Device<M::Device>`
        // (type invariant), registered and so alive.
        let dev = unsafe { Device::<M::Device>::from_raw(vdev) };
        // Unregistering drops the registration's reference: keep one for the
        // driver's hook.
        let dev: ARef<Device<M::Device>> = dev.into();
        // Unregister first: the bus driver's remove may wait for the device
        // to complete requests (a disk flushing its dirty pages), which it
        // must still do then; the driver stops the device only afterwards.
        // SAFETY: The device is registered, the lock is held.
        unsafe { bindings::_vdpa_unregister_device(vdev) };
        // The bus driver is gone: so are its callbacks.
        dev.callbacks.clear();
        M::dev_del(this, &dev);
    }

    /// # Safety
    ///
    /// Called by the vDPA core with the registered management device and one of its devices.
    unsafe extern "C" fn dev_set_attr_cb(
        mdev: *mut bindings::vdpa_mgmt_dev,
        vdev: *mut bindings::vdpa_device,
        config: *const bindings::vdpa_dev_set_config,
    ) -> c_int {
        // SAFETY: As in `dev_del_cb`.
        let this = unsafe { Self::from_mdev(mdev) };
        // SAFETY: As in `dev_del_cb`.
        let dev = unsafe { Device::<M::Device>::from_raw(vdev) };
        // SAFETY: `config` is valid for the call.
        let config = DevSetConfig::from_raw(unsafe { &*config });
        from_result(|| {
            M::dev_set_attr(this, dev, &config)?;
            Ok(0)
        })
    }
}

#[pinned_drop]
impl<M: MgmtDriver> PinnedDrop for MgmtRegistration<M> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered by the type invariants. Unregistering removes
        // every device this management device created (through `dev_del_cb`:
        // each is unregistered, then the driver's `dev_del` is called).
        unsafe { bindings::vdpa_mgmtdev_unregister(self.mdev.get()) };
    }
}
