// SPDX-License-Identifier: GPL-2.0

//! vDPA parents: devices whose data path is a virtio ring and whose control
//! path is vendor specific.
//!
//! A parent driver implements [`Driver`] for its device data: the vDPA bus
//! calls it to set virtqueues up, negotiate features, read the config space,
//! reset, suspend, map memory and so on. Devices are created by a management
//! device ([`MgmtDriver`], registered with [`MgmtRegistration`]) when
//! userspace asks for one with `vdpa dev add`, and removed with `vdpa dev del`
//! or when the management device goes away.
//!
//! Once registered, a device is driven by one of the vDPA bus drivers:
//! `virtio_vdpa` (the kernel's own virtio drivers run on it) or `vhost_vdpa`
//! (userspace drives it through `/dev/vhost-vdpa-N`).
//!
//! C header: [`include/linux/vdpa.h`](srctree/include/linux/vdpa.h)

use crate::{
    alloc::allocator::Kmalloc,
    bindings, device,
    error::{
        from_err_ptr,
        from_result,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    irq::IrqReturn,
    prelude::*,
    sync::{
        aref::{
            ARef,
            AlwaysRefCounted, //
        },
        atomic::{
            Atomic,
            Relaxed, //
        },
        LockClassKey,
    },
    types::Opaque,
    vhost::iotlb::Iotlb,
};
use core::{
    alloc::Layout,
    marker::PhantomData,
    mem,
    ops::Deref,
    ptr::{
        self,
        NonNull, //
    },
};

/// The virtio device status bits (`VIRTIO_CONFIG_S_*`).
pub mod status {
    /// The driver noticed the device.
    pub const ACKNOWLEDGE: u8 = bindings::VIRTIO_CONFIG_S_ACKNOWLEDGE as u8;
    /// The driver knows how to drive the device.
    pub const DRIVER: u8 = bindings::VIRTIO_CONFIG_S_DRIVER as u8;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u8 = bindings::VIRTIO_CONFIG_S_DRIVER_OK as u8;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = bindings::VIRTIO_CONFIG_S_FEATURES_OK as u8;
    /// The device needs a reset.
    pub const NEEDS_RESET: u8 = bindings::VIRTIO_CONFIG_S_NEEDS_RESET as u8;
    /// The driver gave up on the device.
    pub const FAILED: u8 = bindings::VIRTIO_CONFIG_S_FAILED as u8;
}

/// Reset flag: also restore the memory mappings to their default.
pub const RESET_F_CLEAN_MAP: u32 = bindings::VDPA_RESET_F_CLEAN_MAP;

/// A callback the bus driver registered for a virtqueue or for config
/// changes: the device calls it to signal used buffers (or a config change),
/// like an interrupt.
///
/// # Invariants
///
/// `func` and `private` were given by the vDPA bus driver in a
/// `struct vdpa_callback`; by the vDPA contract they stay callable until the
/// bus driver replaces them or resets the device.
#[derive(Clone, Copy)]
pub struct Callback {
    func: unsafe extern "C" fn(*mut c_void) -> bindings::irqreturn_t,
    private: *mut c_void,
}

// SAFETY: By the vDPA contract the callback may be called from any context
// and any thread, like an interrupt handler.
unsafe impl Send for Callback {}
// SAFETY: As above.
unsafe impl Sync for Callback {}

impl Callback {
    /// # Safety
    ///
    /// `cb` must be null or point to a valid `struct vdpa_callback`.
    unsafe fn from_raw(cb: *const bindings::vdpa_callback) -> Option<Callback> {
        if cb.is_null() {
            return None;
        }
        // SAFETY: `cb` is valid by the safety requirements.
        let cb = unsafe { &*cb };
        // INVARIANT: Given by the bus driver through the config ops.
        cb.callback.map(|func| Callback {
            func,
            private: cb.private,
        })
    }

    /// Calls the callback, with bottom halves disabled as an interrupt
    /// handler would run (bus drivers schedule NAPI or complete requests
    /// from it).
    pub fn call(&self) -> IrqReturn {
        // SAFETY: Always paired with `local_bh_enable` below.
        unsafe { bindings::local_bh_disable() };
        let r = self.call_raw();
        // SAFETY: Paired with `local_bh_disable` above.
        unsafe { bindings::local_bh_enable() };
        r
    }

    /// Calls the callback as it is, in the caller's context.
    fn call_raw(&self) -> IrqReturn {
        // SAFETY: By the type invariants the callback is callable with its
        // private data.
        let r = unsafe { (self.func)(self.private) };
        if r == bindings::irqreturn_IRQ_HANDLED {
            IrqReturn::Handled
        } else {
            IrqReturn::None
        }
    }
}

/// The callback of a virtqueue (or of config changes) as an interrupt
/// handler sees it: the config ops set it in process context, the handler
/// calls it in hard interrupt context.
///
/// The callback is called under an interrupt-safe lock, so once
/// [`IrqCallback::set`] returns, the previous callback is neither running
/// nor called again: a bus driver may free what it pointed to.
///
/// # Invariants
///
/// `lock` is an initialised spinlock; `cb` is only accessed with it held
/// and interrupts disabled.
#[pin_data]
pub struct IrqCallback {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    cb: core::cell::UnsafeCell<Option<Callback>>,
}

// SAFETY: `cb` is only accessed under the lock (type invariants); a
// `Callback` may be sent to and called from any thread.
unsafe impl Send for IrqCallback {}
// SAFETY: As above.
unsafe impl Sync for IrqCallback {}

impl IrqCallback {
    /// Creates an empty callback cell.
    pub fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(IrqCallback {
            // SAFETY: `slot` is valid for the spinlock; `name` and `key` are static.
            lock <- Opaque::ffi_init(move |slot| unsafe {
                bindings::__spin_lock_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
            cb: core::cell::UnsafeCell::new(None),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Option<Callback>) -> R) -> R {
        // SAFETY: The lock is initialised (type invariants).
        let flags = unsafe { bindings::rvdpa_spin_lock_irqsave(self.lock.get()) };
        // SAFETY: The lock is held with interrupts disabled: `cb` is ours.
        let r = f(unsafe { &mut *self.cb.get() });
        // SAFETY: Locked above with these flags.
        unsafe { bindings::rvdpa_spin_unlock_irqrestore(self.lock.get(), flags) };
        r
    }

    /// Replaces the callback; when this returns, the old one is not running.
    pub fn set(&self, cb: Option<Callback>) {
        self.with(|c| *c = cb);
    }

    /// Calls the callback, if any, from an interrupt handler: bottom halves
    /// are not touched. Returns what the callback returned, or `None`
    /// without a callback.
    ///
    /// No callback does not mean the interrupt was not the device's: a bus
    /// driver that polls (a userspace driver without a call eventfd) sets
    /// none, and its device still interrupts. A handler of a vector of its
    /// own (MSI-X) should answer [`IrqReturn::Handled`] then, as the C
    /// parents do; [`IrqReturn::None`] would have the IRQ core disable the
    /// vector as spurious after 100,000 of them.
    pub fn call(&self) -> Option<IrqReturn> {
        // Hard interrupt context is where the C parents call it too.
        self.with(|c| c.as_ref().map(Callback::call_raw))
    }
}

/// The state of a virtqueue, as saved and restored across a migration.
///
/// For a split virtqueue it is the index of the next available entry the
/// device will take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VqState {
    /// The next available index (split virtqueues).
    pub avail_index: u16,
}

/// The range of IOVAs a device can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IovaRange {
    /// The first usable IOVA.
    pub first: u64,
    /// The last usable IOVA (inclusive).
    pub last: u64,
}

/// The doorbell of a virtqueue, for userspace to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationArea {
    /// The physical address of the doorbell.
    pub addr: u64,
    /// The size of the area (a page for vhost-vdpa to map it).
    pub size: u64,
}

/// How a device translates the addresses its driver gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaModel {
    /// The device gets whole IOTLBs at once ([`Driver::set_map`]).
    Batch,
    /// The device gets mappings one at a time ([`Driver::dma_map`] and
    /// [`Driver::dma_unmap`]).
    Incremental,
    /// The device uses the platform IOMMU through the DMA API of its DMA
    /// device: none of the map ops is offered.
    Platform,
}

/// The vDPA bus driver a device was last reset by (see [`Device::bus_driver`]).
///
/// Every bus driver resets a device before it drives it (`virtio_vdpa` when
/// its virtio driver probes, `vhost_vdpa` when `/dev/vhost-vdpa-N` is
/// opened) and when it stops driving it, so a parent can choose its
/// defaults in [`Driver::reset`] by who asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusDriver {
    /// No bus driver reset the device yet.
    None,
    /// `virtio_vdpa`: the kernel's own virtio drivers, which give the device
    /// addresses of the DMA API of its DMA device.
    Virtio,
    /// `vhost_vdpa`: userspace, which gives the device its mappings
    /// explicitly and must reach nothing else.
    Vhost,
    /// Another bus driver.
    Other,
}

impl BusDriver {
    fn to_raw(self) -> u32 {
        match self {
            BusDriver::None => 0,
            BusDriver::Virtio => 1,
            BusDriver::Vhost => 2,
            BusDriver::Other => 3,
        }
    }

    fn from_raw(v: u32) -> Self {
        match v {
            0 => BusDriver::None,
            1 => BusDriver::Virtio,
            2 => BusDriver::Vhost,
            _ => BusDriver::Other,
        }
    }
}

/// How to create a vDPA device; see [`Device::new`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The number of virtqueues.
    pub nvqs: u32,
    /// The number of virtqueue groups.
    pub ngroups: u32,
    /// The number of address spaces.
    pub nas: u32,
    /// How the device translates addresses.
    pub dma: DmaModel,
    /// True if the device is its own DMA device (a software device with a
    /// 64-bit DMA mask and no IOMMU); false to use the parent device.
    pub self_dma: bool,
}

/// Attributes a management device accepts in `vdpa dev add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigAttrs(u64);

impl ConfigAttrs {
    /// No attribute.
    pub const NONE: ConfigAttrs = ConfigAttrs(0);
    /// `mac`: the MAC address of a net device.
    pub const NET_MAC: ConfigAttrs =
        ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_NET_CFG_MACADDR);
    /// `mtu`: the MTU of a net device.
    pub const NET_MTU: ConfigAttrs =
        ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_NET_CFG_MTU);
    /// `max_vqp`: the number of queue pairs of a net device.
    pub const NET_MAX_VQP: ConfigAttrs =
        ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_NET_CFG_MAX_VQP);
    /// `device_features`: the features the device offers.
    pub const FEATURES: ConfigAttrs = ConfigAttrs(1 << bindings::vdpa_attr_VDPA_ATTR_DEV_FEATURES);

    /// Both sets of attributes.
    pub const fn union(self, other: ConfigAttrs) -> ConfigAttrs {
        ConfigAttrs(self.0 | other.0)
    }

    /// True if every attribute of `other` is in `self`.
    pub const fn contains(self, other: ConfigAttrs) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The attributes given to `vdpa dev add` (or `vdpa dev set`), each present
/// only if the user gave it. The vDPA core has already refused the ones the
/// management device does not declare in [`MgmtDriver::CONFIG_ATTRS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevSetConfig {
    /// The MAC address.
    pub mac: Option<[u8; 6]>,
    /// The MTU.
    pub mtu: Option<u16>,
    /// The number of queue pairs.
    pub max_vq_pairs: Option<u16>,
    /// The features the device should offer.
    pub device_features: Option<u64>,
}

impl DevSetConfig {
    fn from_raw(c: &bindings::vdpa_dev_set_config) -> Self {
        let has = |a: ConfigAttrs| ConfigAttrs(c.mask).contains(a);
        DevSetConfig {
            mac: has(ConfigAttrs::NET_MAC).then_some(c.net.mac),
            mtu: has(ConfigAttrs::NET_MTU).then_some(c.net.mtu),
            max_vq_pairs: has(ConfigAttrs::NET_MAX_VQP).then_some(c.net.max_vq_pairs),
            device_features: has(ConfigAttrs::FEATURES).then_some(c.device_features),
        }
    }
}

/// A netlink message being filled with the vendor statistics of a
/// virtqueue (`vdpa dev vstats show`).
pub struct VendorStats<'a> {
    msg: *mut bindings::sk_buff,
    _p: PhantomData<&'a mut bindings::sk_buff>,
}

impl VendorStats<'_> {
    /// Adds one named counter. Fails with `EMSGSIZE` when the message is full.
    pub fn put(&mut self, name: &CStr, value: u64) -> Result {
        // SAFETY: `self.msg` is the message the vDPA core is filling, valid
        // for the lifetime of `self`; `name` is a valid C string.
        to_result(unsafe {
            bindings::nla_put_string(
                self.msg,
                bindings::vdpa_attr_VDPA_ATTR_DEV_VENDOR_ATTR_NAME as c_int,
                name.as_char_ptr(),
            )
        })
        .map_err(|_| EMSGSIZE)?;
        // SAFETY: As above.
        to_result(unsafe {
            bindings::nla_put_u64_64bit(
                self.msg,
                bindings::vdpa_attr_VDPA_ATTR_DEV_VENDOR_ATTR_VALUE as c_int,
                value,
                bindings::vdpa_attr_VDPA_ATTR_PAD as c_int,
            )
        })
        .map_err(|_| EMSGSIZE)
    }
}

/// The operations of a vDPA device, implemented on the driver's device data.
///
/// Every operation receives the [`Device`], which dereferences to the data.
/// Operations may be called concurrently from several bus-driver contexts
/// (`kick_vq` even from atomic context), so the data uses its own locking.
///
/// Queue indices are checked by the abstraction: an operation is only called
/// with `idx < nvqs`; an out-of-range index gets `EINVAL` (or is ignored
/// where the C op returns nothing). Config accesses are checked against
/// [`Driver::get_config_size`] the same way.
#[vtable]
pub trait Driver: Sized + Send + Sync + 'static {
    /// Sets the IOVAs of a virtqueue's descriptor table, driver area and
    /// device area.
    fn set_vq_address(dev: &Device<Self>, idx: u16, desc: u64, driver: u64, device: u64) -> Result;

    /// Sets the size of a virtqueue.
    fn set_vq_num(dev: &Device<Self>, idx: u16, num: u32);

    /// The driver made buffers available in a virtqueue.
    fn kick_vq(dev: &Device<Self>, idx: u16);

    /// Like [`Driver::kick_vq`] with the notification data
    /// (`VIRTIO_F_NOTIFICATION_DATA`): the queue index in the low 16 bits.
    fn kick_vq_with_data(_dev: &Device<Self>, _data: u32) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Sets (or clears) the callback to signal used buffers of a virtqueue.
    fn set_vq_cb(dev: &Device<Self>, idx: u16, cb: Option<Callback>);

    /// Enables or disables a virtqueue.
    fn set_vq_ready(dev: &Device<Self>, idx: u16, ready: bool);

    /// Returns whether a virtqueue is enabled.
    fn get_vq_ready(dev: &Device<Self>, idx: u16) -> bool;

    /// Restores the state of a virtqueue.
    fn set_vq_state(dev: &Device<Self>, idx: u16, state: &VqState) -> Result;

    /// Returns the state of a virtqueue.
    fn get_vq_state(dev: &Device<Self>, idx: u16) -> Result<VqState>;

    /// Fills the vendor statistics of a virtqueue.
    fn get_vendor_vq_stats(_dev: &Device<Self>, _idx: u16, _stats: &mut VendorStats<'_>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the doorbell of a virtqueue, for userspace to map.
    fn get_vq_notification(_dev: &Device<Self>, _idx: u16) -> NotificationArea {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the Linux IRQ number that signals a virtqueue, for irq bypass.
    fn get_vq_irq(_dev: &Device<Self>, _idx: u16) -> Result<u32> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the size of a virtqueue.
    fn get_vq_size(_dev: &Device<Self>, _idx: u16) -> u16 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the alignment the virtqueue areas need. Without it, a page.
    fn get_vq_align(_dev: &Device<Self>) -> u32 {
        crate::page::PAGE_SIZE as u32
    }

    /// Returns the group of a virtqueue.
    fn get_vq_group(_dev: &Device<Self>, _idx: u16) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the features the device offers.
    fn get_device_features(dev: &Device<Self>) -> u64;

    /// Returns the vhost backend features (`VHOST_BACKEND_F_*`) the parent
    /// supports.
    fn get_backend_features(_dev: &Device<Self>) -> u64 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Sets the features the driver accepted.
    fn set_driver_features(dev: &Device<Self>, features: u64) -> Result;

    /// Returns the features the driver accepted.
    fn get_driver_features(dev: &Device<Self>) -> u64;

    /// Sets (or clears) the callback to signal config changes. Without it,
    /// the device never signals config changes.
    fn set_config_cb(_dev: &Device<Self>, _cb: Option<Callback>) {}

    /// Returns the largest virtqueue size.
    fn get_vq_num_max(dev: &Device<Self>) -> u16;

    /// Returns the smallest virtqueue size.
    fn get_vq_num_min(_dev: &Device<Self>) -> u16 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the virtio device id (`VIRTIO_ID_*`).
    fn get_device_id(dev: &Device<Self>) -> u32;

    /// Returns the vendor id. Without it, 0.
    fn get_vendor_id(_dev: &Device<Self>) -> u32 {
        0
    }

    /// Returns the device status.
    fn get_status(dev: &Device<Self>) -> u8;

    /// Sets the device status.
    fn set_status(dev: &Device<Self>, status: u8);

    /// Resets the device. [`Device::bus_driver`] tells which bus driver asks.
    fn reset(dev: &Device<Self>) -> Result;

    /// Resets the device with compatibility flags (such as
    /// [`RESET_F_CLEAN_MAP`]). [`Device::bus_driver`] tells which bus driver
    /// asks.
    fn compat_reset(_dev: &Device<Self>, _flags: u32) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Stops the device from processing virtqueues, keeping their state.
    fn suspend(_dev: &Device<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Resumes a suspended device.
    fn resume(_dev: &Device<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the size of the device config space.
    fn get_config_size(dev: &Device<Self>) -> usize;

    /// Reads the config space at `offset` into `buf` (within the size).
    fn get_config(dev: &Device<Self>, offset: usize, buf: &mut [u8]);

    /// Writes `buf` to the config space at `offset` (within the size).
    /// Without it, the config space is read-only and writes are ignored.
    fn set_config(_dev: &Device<Self>, _offset: usize, _buf: &[u8]) {}

    /// Returns the config generation, which changes with the config space.
    fn get_generation(_dev: &Device<Self>) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Returns the range of IOVAs the device can use.
    fn get_iova_range(_dev: &Device<Self>) -> IovaRange {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Sets the address space of a virtqueue group.
    fn set_group_asid(_dev: &Device<Self>, _group: u32, _asid: u32) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Replaces the mappings of an address space ([`DmaModel::Batch`]).
    fn set_map(_dev: &Device<Self>, _asid: u32, _iotlb: &Iotlb) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps `size` bytes at `iova` to `pa` ([`DmaModel::Incremental`]; a
    /// driver that implements it must implement [`Driver::dma_unmap`] too).
    fn dma_map(
        _dev: &Device<Self>,
        _asid: u32,
        _iova: u64,
        _size: u64,
        _pa: u64,
        _perm: u32,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Unmaps `size` bytes at `iova` ([`DmaModel::Incremental`]).
    fn dma_unmap(_dev: &Device<Self>, _asid: u32, _iova: u64, _size: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Restores the default mappings of an address space.
    fn reset_map(_dev: &Device<Self>, _asid: u32) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A vDPA device with the driver's data `T`.
///
/// The C core allocates it (the `struct vdpa_device` first) and frees it when
/// the last reference goes; the data is dropped then.
///
/// # Invariants
///
/// - `vdpa` is a valid `struct vdpa_device` allocated by `__vdpa_alloc_device`
///   with the size of `Self`, whose config ops are `Self::VTABLE_*`.
/// - `data` and `bus` are initialised.
#[repr(C)]
#[pin_data]
pub struct Device<T: Driver> {
    #[pin]
    vdpa: Opaque<bindings::vdpa_device>,
    /// The [`BusDriver`] of the last reset, as its raw value.
    bus: Atomic<u32>,
    #[pin]
    data: T,
}

// SAFETY: The C device may be used from any thread; `T` is `Send + Sync`.
unsafe impl<T: Driver> Send for Device<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Sync for Device<T> {}

// SAFETY: The device is reference counted through its `struct device`.
unsafe impl<T: Driver> AlwaysRefCounted for Device<T> {
    fn inc_ref(&self) {
        // SAFETY: The existence of `&self` means the refcount is non-zero.
        unsafe { bindings::get_device(self.as_dev_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference; `Self` starts with the C
        // device, whose `struct device` is its first field.
        unsafe {
            bindings::put_device(ptr::addr_of_mut!(
                (*obj.as_ptr().cast::<bindings::vdpa_device>()).dev
            ))
        }
    }
}

impl<T: Driver> Deref for Device<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

/// A device that is created but not registered on the vDPA bus yet; a
/// management device's [`MgmtDriver::dev_add`] returns it to be registered.
pub struct UnregisteredDevice<T: Driver> {
    dev: ARef<Device<T>>,
    nvqs: u32,
}

impl<T: Driver> Deref for UnregisteredDevice<T> {
    type Target = Device<T>;

    fn deref(&self) -> &Device<T> {
        &self.dev
    }
}

impl<T: Driver> UnregisteredDevice<T> {
    /// Creates a vDPA device named `name` (or `vdpaN`) with the driver's data.
    ///
    /// Fails with `EINVAL` if the driver does not implement the map ops that
    /// `opts.dma` needs.
    pub fn new(
        parent: Option<&device::Device>,
        name: Option<&CStr>,
        opts: Options,
        data: impl PinInit<T, Error>,
    ) -> Result<Self> {
        let (init_ops, ops): (
            &'static bindings::vdpa_config_ops,
            &'static bindings::vdpa_config_ops,
        ) = match opts.dma {
            DmaModel::Batch if T::HAS_SET_MAP => {
                (&Device::<T>::VTABLE_BATCH_INIT, &Device::<T>::VTABLE_BATCH)
            }
            DmaModel::Incremental if T::HAS_DMA_MAP => (
                &Device::<T>::VTABLE_INCREMENTAL_INIT,
                &Device::<T>::VTABLE_INCREMENTAL,
            ),
            DmaModel::Platform => (
                &Device::<T>::VTABLE_PLATFORM_INIT,
                &Device::<T>::VTABLE_PLATFORM,
            ),
            _ => return Err(EINVAL),
        };
        if opts.nvqs == 0 || opts.nvqs > u32::from(u16::MAX) || opts.ngroups == 0 || opts.nas == 0 {
            return Err(EINVAL);
        }
        // `__vdpa_alloc_device` uses `kzalloc()`; make sure the layout suits it.
        let layout = Kmalloc::aligned_layout(Layout::new::<Device<T>>());

        // SAFETY: `init_ops` is static; `parent` and `name` are valid for the
        // call (the name is copied). The C struct is at offset 0 of `Self`.
        let raw = unsafe {
            bindings::__vdpa_alloc_device(
                parent.map_or(ptr::null_mut(), |p| p.as_raw()),
                init_ops,
                ptr::null(),
                opts.ngroups,
                opts.nas,
                layout.size(),
                name.map_or(ptr::null(), |n| n.as_char_ptr()),
                false,
            )
        };
        let raw = from_err_ptr(raw)?.cast::<Device<T>>();
        // SAFETY: The allocation succeeded and holds one reference, which
        // `dev` owns from here on. Until `data` is initialised the ops have
        // no `free`, so dropping it only frees the memory.
        let dev: ARef<Device<T>> = unsafe { ARef::from_raw(NonNull::new_unchecked(raw)) };

        // SAFETY: `raw` is valid and the field is not initialised yet; an
        // atomic needs no drop.
        unsafe { ptr::addr_of_mut!((*raw).bus).write(Atomic::new(BusDriver::None.to_raw())) };
        // SAFETY: `raw` is valid; the data field is not initialised yet and
        // is not moved until the device is freed.
        unsafe { data.__pinned_init(ptr::addr_of_mut!((*raw).data)) }?;

        let vdpa = dev.as_raw();
        // SAFETY: The device is private to this function until it is
        // registered; the data is initialised, so `free` may drop it.
        unsafe {
            (*vdpa).config = ops;
            if opts.self_dma {
                let d = ptr::addr_of_mut!((*vdpa).dev);
                (*d).dma_mask = ptr::addr_of_mut!((*d).coherent_dma_mask);
                to_result(bindings::dma_set_mask_and_coherent(d, u64::MAX))?;
                (*vdpa).vmap.dma_dev = d;
            } else if let Some(p) = parent {
                (*vdpa).vmap.dma_dev = p.as_raw();
            }
        }
        // INVARIANT: Allocated with the size of `Device<T>`, ops set, data initialised.
        Ok(UnregisteredDevice {
            dev,
            nvqs: opts.nvqs,
        })
    }
}

impl<T: Driver> Device<T> {
    const fn build(dma: DmaModel, free: bool) -> bindings::vdpa_config_ops {
        // Both halves of the incremental DMA model, or neither.
        const {
            assert!(
                T::HAS_DMA_MAP == T::HAS_DMA_UNMAP,
                "dma_map needs dma_unmap"
            )
        };
        let batch = matches!(dma, DmaModel::Batch);
        let incremental = matches!(dma, DmaModel::Incremental);
        bindings::vdpa_config_ops {
            set_vq_address: Some(Self::set_vq_address_cb),
            set_vq_num: Some(Self::set_vq_num_cb),
            kick_vq: Some(Self::kick_vq_cb),
            kick_vq_with_data: if T::HAS_KICK_VQ_WITH_DATA {
                Some(Self::kick_vq_with_data_cb)
            } else {
                None
            },
            set_vq_cb: Some(Self::set_vq_cb_cb),
            set_vq_ready: Some(Self::set_vq_ready_cb),
            get_vq_ready: Some(Self::get_vq_ready_cb),
            set_vq_state: Some(Self::set_vq_state_cb),
            get_vq_state: Some(Self::get_vq_state_cb),
            get_vendor_vq_stats: if T::HAS_GET_VENDOR_VQ_STATS {
                Some(Self::get_vendor_vq_stats_cb)
            } else {
                None
            },
            get_vq_notification: if T::HAS_GET_VQ_NOTIFICATION {
                Some(Self::get_vq_notification_cb)
            } else {
                None
            },
            get_vq_irq: if T::HAS_GET_VQ_IRQ {
                Some(Self::get_vq_irq_cb)
            } else {
                None
            },
            get_vq_size: if T::HAS_GET_VQ_SIZE {
                Some(Self::get_vq_size_cb)
            } else {
                None
            },
            get_vq_align: Some(Self::get_vq_align_cb),
            get_vq_group: if T::HAS_GET_VQ_GROUP {
                Some(Self::get_vq_group_cb)
            } else {
                None
            },
            get_device_features: Some(Self::get_device_features_cb),
            get_backend_features: if T::HAS_GET_BACKEND_FEATURES {
                Some(Self::get_backend_features_cb)
            } else {
                None
            },
            set_driver_features: Some(Self::set_driver_features_cb),
            get_driver_features: Some(Self::get_driver_features_cb),
            set_config_cb: Some(Self::set_config_cb_cb),
            get_vq_num_max: Some(Self::get_vq_num_max_cb),
            get_vq_num_min: if T::HAS_GET_VQ_NUM_MIN {
                Some(Self::get_vq_num_min_cb)
            } else {
                None
            },
            get_device_id: Some(Self::get_device_id_cb),
            get_vendor_id: Some(Self::get_vendor_id_cb),
            get_status: Some(Self::get_status_cb),
            set_status: Some(Self::set_status_cb),
            reset: Some(Self::reset_cb),
            compat_reset: if T::HAS_COMPAT_RESET {
                Some(Self::compat_reset_cb)
            } else {
                None
            },
            suspend: if T::HAS_SUSPEND {
                Some(Self::suspend_cb)
            } else {
                None
            },
            resume: if T::HAS_RESUME {
                Some(Self::resume_cb)
            } else {
                None
            },
            get_config_size: Some(Self::get_config_size_cb),
            get_config: Some(Self::get_config_cb),
            set_config: Some(Self::set_config_cb),
            get_generation: if T::HAS_GET_GENERATION {
                Some(Self::get_generation_cb)
            } else {
                None
            },
            get_iova_range: if T::HAS_GET_IOVA_RANGE {
                Some(Self::get_iova_range_cb)
            } else {
                None
            },
            set_group_asid: if T::HAS_SET_GROUP_ASID {
                Some(Self::set_group_asid_cb)
            } else {
                None
            },
            set_map: if batch && T::HAS_SET_MAP {
                Some(Self::set_map_cb)
            } else {
                None
            },
            dma_map: if incremental && T::HAS_DMA_MAP {
                Some(Self::dma_map_cb)
            } else {
                None
            },
            dma_unmap: if incremental && T::HAS_DMA_UNMAP {
                Some(Self::dma_unmap_cb)
            } else {
                None
            },
            reset_map: if !matches!(dma, DmaModel::Platform) && T::HAS_RESET_MAP {
                Some(Self::reset_map_cb)
            } else {
                None
            },
            free: if free { Some(Self::free_cb) } else { None },
            ..pin_init::zeroed()
        }
    }

    const VTABLE_BATCH: bindings::vdpa_config_ops = Self::build(DmaModel::Batch, true);
    const VTABLE_INCREMENTAL: bindings::vdpa_config_ops = Self::build(DmaModel::Incremental, true);
    const VTABLE_PLATFORM: bindings::vdpa_config_ops = Self::build(DmaModel::Platform, true);
    // The same without `free`, while the data is not initialised.
    const VTABLE_BATCH_INIT: bindings::vdpa_config_ops = Self::build(DmaModel::Batch, false);
    const VTABLE_INCREMENTAL_INIT: bindings::vdpa_config_ops =
        Self::build(DmaModel::Incremental, false);
    const VTABLE_PLATFORM_INIT: bindings::vdpa_config_ops = Self::build(DmaModel::Platform, false);

    /// Returns the C device.
    pub fn as_raw(&self) -> *mut bindings::vdpa_device {
        self.vdpa.get()
    }

    fn as_dev_raw(&self) -> *mut bindings::device {
        // SAFETY: The C device is valid by the type invariants.
        unsafe { ptr::addr_of_mut!((*self.as_raw()).dev) }
    }

    /// Returns the generic device, for logging and sysfs.
    pub fn as_dev(&self) -> &device::Device {
        // SAFETY: The device is valid as long as `self` is.
        unsafe { device::Device::from_raw(self.as_dev_raw()) }
    }

    /// Returns the device name (as in `vdpa dev show`).
    pub fn name(&self) -> &CStr {
        self.as_dev().name()
    }

    /// Returns the number of virtqueues (0 before registration).
    pub fn nvqs(&self) -> u32 {
        // SAFETY: The C device is valid; `nvqs` is set once at registration.
        unsafe { (*self.as_raw()).nvqs }
    }

    /// Returns the number of address spaces.
    pub fn nas(&self) -> u32 {
        // SAFETY: The C device is valid; `nas` is set at allocation.
        unsafe { (*self.as_raw()).nas }
    }

    /// Returns the number of virtqueue groups.
    pub fn ngroups(&self) -> u32 {
        // SAFETY: The C device is valid; `ngroups` is set at allocation.
        unsafe { (*self.as_raw()).ngroups }
    }

    /// Returns the bus driver that last reset the device ([`BusDriver::None`]
    /// before the first reset). In [`Driver::reset`] and
    /// [`Driver::compat_reset`] it is the bus driver asking for this reset.
    pub fn bus_driver(&self) -> BusDriver {
        BusDriver::from_raw(self.bus.load(Relaxed))
    }

    /// Records which bus driver is resetting the device.
    ///
    /// # Safety
    ///
    /// Called from the `reset` or `compat_reset` op only, which only the bus
    /// driver bound to the device calls (from its probe, its remove, or a
    /// file it created and closes before its remove returns).
    unsafe fn note_bus_driver(&self) {
        // SAFETY: The device is valid. The caller is the bound bus driver
        // (safety requirements), so `driver` points to it and it stays
        // registered, with its name, during the call; the driver core sets
        // the field before that driver's probe and clears it after its
        // remove, so it does not change under us.
        let name = unsafe {
            let drv = (*self.as_dev_raw()).driver;
            if drv.is_null() || (*drv).name.is_null() {
                None
            } else {
                Some(CStr::from_char_ptr((*drv).name))
            }
        };
        let bus = match name.map(|n| n.to_bytes()) {
            None => BusDriver::None,
            Some(b"virtio_vdpa") => BusDriver::Virtio,
            Some(b"vhost_vdpa") => BusDriver::Vhost,
            Some(_) => BusDriver::Other,
        };
        self.bus.store(bus.to_raw(), Relaxed);
    }

    /// # Safety
    ///
    /// `ptr` must be a valid vDPA device created by [`Device::new`] for `T`,
    /// for the lifetime `'a`.
    unsafe fn from_raw<'a>(ptr: *const bindings::vdpa_device) -> &'a Self {
        // SAFETY: The C struct is at offset 0 of `Self` (`#[repr(C)]`, first
        // field) and the caller guarantees validity.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn vq(&self, idx: u16) -> Option<u16> {
        (u32::from(idx) < self.nvqs()).then_some(idx)
    }

    fn config_range(&self, offset: c_uint, len: c_uint) -> Option<(usize, usize)> {
        let offset = offset as usize;
        let len = len as usize;
        let end = offset.checked_add(len)?;
        (end <= T::get_config_size(self)).then_some((offset, len))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_vq_address_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        desc: u64,
        driver: u64,
        device: u64,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            let idx = dev.vq(idx).ok_or(EINVAL)?;
            T::set_vq_address(dev, idx, desc, driver, device)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_vq_num_cb(v: *mut bindings::vdpa_device, idx: u16, num: u32) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        if let Some(idx) = dev.vq(idx) {
            T::set_vq_num(dev, idx, num)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn kick_vq_cb(v: *mut bindings::vdpa_device, idx: u16) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        if let Some(idx) = dev.vq(idx) {
            T::kick_vq(dev, idx)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn kick_vq_with_data_cb(v: *mut bindings::vdpa_device, data: u32) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        if dev.vq(data as u16).is_some() {
            T::kick_vq_with_data(dev, data)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_vq_cb_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        cb: *mut bindings::vdpa_callback,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        // SAFETY: `cb` is null or a valid callback given by the bus driver.
        let cb = unsafe { Callback::from_raw(cb) };
        if let Some(idx) = dev.vq(idx) {
            T::set_vq_cb(dev, idx, cb)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_vq_ready_cb(v: *mut bindings::vdpa_device, idx: u16, ready: bool) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        if let Some(idx) = dev.vq(idx) {
            T::set_vq_ready(dev, idx, ready)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_ready_cb(v: *mut bindings::vdpa_device, idx: u16) -> bool {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        dev.vq(idx).is_some_and(|idx| T::get_vq_ready(dev, idx))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_vq_state_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        state: *const bindings::vdpa_vq_state,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            let idx = dev.vq(idx).ok_or(EINVAL)?;
            // SAFETY: `state` is valid for reads; the split view is the one
            // this abstraction supports.
            let avail_index = unsafe { (*state).__bindgen_anon_1.split.avail_index };
            T::set_vq_state(dev, idx, &VqState { avail_index })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_state_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        state: *mut bindings::vdpa_vq_state,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            let idx = dev.vq(idx).ok_or(EINVAL)?;
            let s = T::get_vq_state(dev, idx)?;
            // SAFETY: `state` is valid for writes.
            unsafe { (*state).__bindgen_anon_1.split.avail_index = s.avail_index };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vendor_vq_stats_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
        msg: *mut bindings::sk_buff,
        _extack: *mut bindings::netlink_ext_ack,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            let idx = dev.vq(idx).ok_or(EINVAL)?;
            let mut stats = VendorStats {
                msg,
                _p: PhantomData,
            };
            T::get_vendor_vq_stats(dev, idx, &mut stats)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_notification_cb(
        v: *mut bindings::vdpa_device,
        idx: u16,
    ) -> bindings::vdpa_notification_area {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        let area = dev
            .vq(idx)
            .map(|idx| T::get_vq_notification(dev, idx))
            .unwrap_or(NotificationArea { addr: 0, size: 0 });
        bindings::vdpa_notification_area {
            addr: area.addr,
            size: area.size,
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_irq_cb(v: *mut bindings::vdpa_device, idx: u16) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            let idx = dev.vq(idx).ok_or(EINVAL)?;
            let irq = T::get_vq_irq(dev, idx)?;
            c_int::try_from(irq).map_err(|_| EINVAL)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_size_cb(v: *mut bindings::vdpa_device, idx: u16) -> u16 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        dev.vq(idx).map_or(0, |idx| T::get_vq_size(dev, idx))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_align_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vq_align(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_group_cb(v: *mut bindings::vdpa_device, idx: u16) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        dev.vq(idx).map_or(0, |idx| T::get_vq_group(dev, idx))
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_device_features_cb(v: *mut bindings::vdpa_device) -> u64 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_device_features(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_backend_features_cb(v: *const bindings::vdpa_device) -> u64 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_backend_features(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_driver_features_cb(v: *mut bindings::vdpa_device, f: u64) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            T::set_driver_features(dev, f)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_driver_features_cb(v: *mut bindings::vdpa_device) -> u64 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_driver_features(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_config_cb_cb(
        v: *mut bindings::vdpa_device,
        cb: *mut bindings::vdpa_callback,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        // SAFETY: `cb` is null or a valid callback given by the bus driver.
        T::set_config_cb(dev, unsafe { Callback::from_raw(cb) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_num_max_cb(v: *mut bindings::vdpa_device) -> u16 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vq_num_max(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vq_num_min_cb(v: *mut bindings::vdpa_device) -> u16 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vq_num_min(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_device_id_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_device_id(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_vendor_id_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_vendor_id(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_status_cb(v: *mut bindings::vdpa_device) -> u8 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_status(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_status_cb(v: *mut bindings::vdpa_device, status: u8) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::set_status(unsafe { Self::from_raw(v) }, status)
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn reset_cb(v: *mut bindings::vdpa_device) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        // SAFETY: Called from the `reset` op.
        unsafe { dev.note_bus_driver() };
        from_result(|| {
            T::reset(dev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn compat_reset_cb(v: *mut bindings::vdpa_device, flags: u32) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        // SAFETY: Called from the `compat_reset` op.
        unsafe { dev.note_bus_driver() };
        from_result(|| {
            T::compat_reset(dev, flags)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn suspend_cb(v: *mut bindings::vdpa_device) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            T::suspend(dev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn resume_cb(v: *mut bindings::vdpa_device) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            T::resume(dev)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_config_size_cb(v: *mut bindings::vdpa_device) -> usize {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_config_size(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_config_cb(
        v: *mut bindings::vdpa_device,
        offset: c_uint,
        buf: *mut c_void,
        len: c_uint,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        if len == 0 {
            return;
        }
        // SAFETY: The caller gives a buffer valid for `len` bytes of writes.
        let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len as usize) };
        match dev.config_range(offset, len) {
            Some((offset, _)) => T::get_config(dev, offset, buf),
            None => buf.fill(0),
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_config_cb(
        v: *mut bindings::vdpa_device,
        offset: c_uint,
        buf: *const c_void,
        len: c_uint,
    ) {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        if len == 0 {
            return;
        }
        // SAFETY: The caller gives a buffer valid for `len` bytes of reads.
        let buf = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len as usize) };
        if let Some((offset, _)) = dev.config_range(offset, len) {
            T::set_config(dev, offset, buf)
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_generation_cb(v: *mut bindings::vdpa_device) -> u32 {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        T::get_generation(unsafe { Self::from_raw(v) })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn get_iova_range_cb(
        v: *mut bindings::vdpa_device,
    ) -> bindings::vdpa_iova_range {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let r = T::get_iova_range(unsafe { Self::from_raw(v) });
        bindings::vdpa_iova_range {
            first: r.first,
            last: r.last,
        }
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_group_asid_cb(
        v: *mut bindings::vdpa_device,
        group: c_uint,
        asid: c_uint,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            if group >= dev.ngroups() || asid >= dev.nas() {
                return Err(EINVAL);
            }
            T::set_group_asid(dev, group, asid)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn set_map_cb(
        v: *mut bindings::vdpa_device,
        asid: c_uint,
        iotlb: *mut bindings::vhost_iotlb,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() {
                return Err(EINVAL);
            }
            // SAFETY: vhost-vdpa holds its IOTLB stable during the call.
            let iotlb = unsafe { Iotlb::from_raw(iotlb) };
            T::set_map(dev, asid, iotlb)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn dma_map_cb(
        v: *mut bindings::vdpa_device,
        asid: c_uint,
        iova: u64,
        size: u64,
        pa: u64,
        perm: u32,
        _opaque: *mut c_void,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() || size == 0 || iova.checked_add(size - 1).is_none() {
                return Err(EINVAL);
            }
            T::dma_map(dev, asid, iova, size, pa, perm)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn dma_unmap_cb(
        v: *mut bindings::vdpa_device,
        asid: c_uint,
        iova: u64,
        size: u64,
    ) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() || size == 0 || iova.checked_add(size - 1).is_none() {
                return Err(EINVAL);
            }
            T::dma_unmap(dev, asid, iova, size)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn reset_map_cb(v: *mut bindings::vdpa_device, asid: c_uint) -> c_int {
        // SAFETY: The vDPA core calls the ops with a device of this type.
        let dev = unsafe { Self::from_raw(v) };
        from_result(|| {
            if asid >= dev.nas() {
                return Err(EINVAL);
            }
            T::reset_map(dev, asid)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the vDPA core with a device created by [`UnregisteredDevice::new`] for `T`.
    unsafe extern "C" fn free_cb(v: *mut bindings::vdpa_device) {
        let this = v.cast::<Self>();
        // SAFETY: Called once, by the release of the last reference; the data
        // is initialised (`free` is only in the ops once it is) and nothing
        // uses it any more. The C core frees the memory afterwards.
        unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*this).data)) };
    }
}

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
    type Device: Driver;

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
                        config_attr_mask: attrs.config_attrs.0,
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
            mem::forget(new.dev);
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
