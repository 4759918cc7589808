// SPDX-License-Identifier: GPL-2.0

//! vDPA devices as VFIO mediated devices.
//!
//! A vDPA bus driver, like `vhost_vdpa`, that binds only to devices whose
//! `driver_override` names it. Each bound device becomes an mdev parent with
//! one type for its device class (`vfio_vdpa-net`, `vfio_vdpa-blk`,
//! `vfio_vdpa-virtio-<id>`); an mdev created on it is an emulated VFIO
//! device that userspace drives with the vhost-vdpa ioctls on its VFIO fd
//! and whose CONFIG region is the virtio config space. The uAPI is in
//! `include/uapi/linux/vfio_vdpa.h`.
//!
//! DMA goes through the VFIO container or IOAS: userspace names the IOVA
//! ranges the device may use with `VFIO_VDPA_DMA_MAP`; the bridge pins them
//! and gives the parent their physical addresses (`set_map`). Calls are
//! eventfds set with `VFIO_DEVICE_SET_IRQS`; kicks are writes to the NOTIFY
//! region. The device is reset at first open and last close and reaches only
//! what it was given: an empty map in every address space until then.

use core::cell::Cell;
use kernel::{
    device,
    eventfd::EventFd,
    iommu::domain::{
        AttachedDomain,
        Domain,
        Prot, //
    },
    irq_bypass::Producer,
    mdev,
    mm::virt::VmaNew,
    new_mutex,
    page::{
        PAGE_SHIFT,
        PAGE_SIZE, //
    },
    pr_info_ratelimited,
    pr_warn_ratelimited,
    prelude::*,
    str::CString,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Release, //
        },
        Arc,
        Mutex, //
    },
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceReader,
        UserSliceWriter, //
    },
    vdpa::{
        driver::{
            BoundDevice,
            BusDevice,
            Handle,
            Registration, //
        },
        status,
        DmaModel, //
    },
    vfio,
    vhost::iotlb::{
        OwnedIotlb,
        Perm, //
    },
    virtio, //
};

module! {
    type: VfioVdpaModule,
    name: "vfio_vdpa",
    authors: ["rvdpa developers"],
    description: "vDPA devices as VFIO mediated devices",
    license: "GPL",
}

/// The vhost ioctls accepted on the VFIO fd (`include/uapi/linux/vhost.h`).
mod vhost {
    use kernel::ioctl::{
        _IO,
        _IOR,
        _IOW,
        _IOWR, //
    };

    const VIRTIO: u32 = 0xAF;
    /// `struct vhost_vring_state`: two `u32`s, index and num.
    type State = [u32; 2];
    /// `struct vhost_vring_addr`: index and flags, then four `u64`s.
    pub(crate) type Addr = [u64; 5];
    /// `struct vhost_vdpa_config` without its data: offset and length.
    type Config = [u32; 2];

    pub(crate) const GET_FEATURES: u32 = _IOR::<u64>(VIRTIO, 0x00);
    pub(crate) const SET_FEATURES: u32 = _IOW::<u64>(VIRTIO, 0x00);
    pub(crate) const SET_OWNER: u32 = _IO(VIRTIO, 0x01);
    pub(crate) const SET_VRING_NUM: u32 = _IOW::<State>(VIRTIO, 0x10);
    pub(crate) const SET_VRING_ADDR: u32 = _IOW::<Addr>(VIRTIO, 0x11);
    pub(crate) const SET_VRING_BASE: u32 = _IOW::<State>(VIRTIO, 0x12);
    pub(crate) const GET_VRING_BASE: u32 = _IOWR::<State>(VIRTIO, 0x12);
    pub(crate) const SET_BACKEND_FEATURES: u32 = _IOW::<u64>(VIRTIO, 0x25);
    pub(crate) const GET_BACKEND_FEATURES: u32 = _IOR::<u64>(VIRTIO, 0x26);
    pub(crate) const VDPA_GET_DEVICE_ID: u32 = _IOR::<u32>(VIRTIO, 0x70);
    pub(crate) const VDPA_GET_STATUS: u32 = _IOR::<u8>(VIRTIO, 0x71);
    pub(crate) const VDPA_SET_STATUS: u32 = _IOW::<u8>(VIRTIO, 0x72);
    pub(crate) const VDPA_GET_CONFIG: u32 = _IOR::<Config>(VIRTIO, 0x73);
    pub(crate) const VDPA_SET_CONFIG: u32 = _IOW::<Config>(VIRTIO, 0x74);
    pub(crate) const VDPA_SET_VRING_ENABLE: u32 = _IOW::<State>(VIRTIO, 0x75);
    pub(crate) const VDPA_GET_VRING_NUM: u32 = _IOR::<u16>(VIRTIO, 0x76);
    pub(crate) const VDPA_GET_IOVA_RANGE: u32 = _IOR::<[u64; 2]>(VIRTIO, 0x78);
    pub(crate) const VDPA_GET_CONFIG_SIZE: u32 = _IOR::<u32>(VIRTIO, 0x79);
    pub(crate) const VDPA_GET_AS_NUM: u32 = _IOR::<u32>(VIRTIO, 0x7A);
    pub(crate) const VDPA_GET_VRING_GROUP: u32 = _IOWR::<State>(VIRTIO, 0x7B);
    pub(crate) const VDPA_SET_GROUP_ASID: u32 = _IOW::<State>(VIRTIO, 0x7C);
    pub(crate) const VDPA_SUSPEND: u32 = _IO(VIRTIO, 0x7D);
    pub(crate) const VDPA_RESUME: u32 = _IO(VIRTIO, 0x7E);
    pub(crate) const VDPA_GET_VQS_COUNT: u32 = _IOR::<u32>(VIRTIO, 0x80);
    pub(crate) const VDPA_GET_GROUP_NUM: u32 = _IOR::<u32>(VIRTIO, 0x81);
    pub(crate) const VDPA_GET_VRING_SIZE: u32 = _IOWR::<State>(VIRTIO, 0x82);

    /// `VHOST_BACKEND_F_IOTLB_PERSIST`: mappings survive a reset.
    pub(crate) const BACKEND_F_IOTLB_PERSIST: u64 = 1 << 8;
    /// `VHOST_BACKEND_F_SUSPEND`.
    pub(crate) const BACKEND_F_SUSPEND: u64 = 1 << 4;
    /// `VHOST_BACKEND_F_RESUME`.
    pub(crate) const BACKEND_F_RESUME: u64 = 1 << 5;
    /// `VHOST_VRING_F_LOG`.
    pub(crate) const VRING_F_LOG: u32 = 1;

    /// `VFIO_VDPA_DMA_MAP`: a header of four `u32`s, then the ranges.
    pub(crate) const DMA_MAP: u32 = _IOW::<[u32; 4]>(VIRTIO, 0xA0);
    /// `VFIO_VDPA_DMA_UNMAP`: four `u32`s, iova and size.
    pub(crate) const DMA_UNMAP: u32 = _IOW::<[u64; 4]>(VIRTIO, 0xA1);
}

/// The module: the mdev driver (held by the vDPA driver's context) and the
/// vDPA bus driver, unregistered in the reverse order.
#[pin_data]
struct VfioVdpaModule {
    #[pin]
    vdpa: Registration<VdpaDriver>,
}

impl kernel::InPlaceModule for VfioVdpaModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            vdpa <- Registration::new(
                c"vfio_vdpa",
                module,
                Arc::pin_init(mdev::DriverRegistration::new(c"vfio_vdpa_mdev", module), GFP_KERNEL)?,
            ),
        })
    }
}

/// The vDPA bus driver.
struct VdpaDriver;

/// A bound vDPA device: the mdev parent made of it.
#[pin_data]
struct VdpaData {
    #[pin]
    parent: Mutex<Option<mdev::Parent<MdevDriver>>>,
}

/// The name of the mdev type of a virtio device class.
fn type_name(device_id: u32) -> Result<CString> {
    match device_id {
        virtio::id::NET => CString::try_from_fmt(fmt!("net")),
        virtio::id::BLOCK => CString::try_from_fmt(fmt!("blk")),
        id => CString::try_from_fmt(fmt!("virtio-{}", id)),
    }
}

fn new_parent(
    dev: &BusDevice<device::Core<'_>>,
    handle: &Arc<Handle>,
    drv: &Arc<mdev::DriverRegistration<MdevDriver>>,
) -> Result<mdev::Parent<MdevDriver>> {
    // Parents that take physical addresses, through their own maps or the
    // platform IOMMU (then with one group and one address space, the rule
    // of `vhost_vdpa`: the domain is the only address space).
    if dev.use_va()
        || (dev.dma_model() == DmaModel::Platform && (dev.ngroups() > 1 || dev.nas() > 1))
    {
        return Err(EOPNOTSUPP);
    }
    let mut types = KVec::new();
    types.push(
        mdev::TypeDesc {
            sysfs_name: type_name(dev.device_id())?,
            pretty_name: CString::try_from_fmt(fmt!("virtio device {}", dev.device_id()))?,
        },
        GFP_KERNEL,
    )?;
    let bound: &BusDevice<device::Bound> = dev;
    mdev::Parent::new(drv, bound.as_ref(), types, handle.clone())
}

impl kernel::vdpa::driver::Driver for VdpaDriver {
    type Context = Arc<mdev::DriverRegistration<MdevDriver>>;
    type Data = VdpaData;
    const OVERRIDE_ONLY: bool = true;

    fn probe(
        dev: &BusDevice<device::Core<'_>>,
        handle: &Arc<Handle>,
        ctx: &Self::Context,
    ) -> impl PinInit<Self::Data, Error> {
        let parent = new_parent(dev, handle, ctx);
        try_pin_init!(VdpaData {
            parent <- new_mutex!(Some(parent?)),
        })
    }

    fn remove(_dev: &BusDevice<device::Core<'_>>, data: Pin<&Self::Data>) {
        // Removes the mdev, which waits until its VFIO device is closed.
        let parent = data.parent.lock().take();
        drop(parent);
    }
}

/// The mdev driver.
struct MdevDriver;

/// A bound mdev: its VFIO device, registered.
#[pin_data]
struct MdevData {
    reg: vfio::Registration<VfioVdpa>,
}

impl mdev::Driver for MdevDriver {
    /// The mdev goes (its `remove`, or its vDPA device's unbinding, deletion
    /// or parent's unloading): the device is stopped and every page given
    /// back now; then dropping the registration waits for the user to close
    /// the device, as VFIO does.
    fn remove<'bound>(_mdev: &'bound mdev::Device<device::Core<'_>>, data: Pin<&MdevData>) {
        revoke(data.reg.device());
    }

    const DEVICE_API: &'static CStr = vfio::vdpa::DEVICE_API;
    const MAX_INSTANCES: u32 = 1;
    type ParentData = Arc<Handle>;
    type Data<'bound> = MdevData;

    fn probe<'bound>(
        mdev: &'bound mdev::Device<device::Core<'_>>,
        parent: &'bound Arc<Handle>,
        _type_index: usize,
    ) -> impl PinInit<MdevData, Error> + 'bound {
        let bound: &mdev::Device<device::Bound> = mdev;
        let reg = vfio::Device::new(
            bound.as_ref(),
            try_pin_init!(VfioVdpa {
                handle: parent.clone(),
                revoked: Atomic::new(false),
                req <- new_mutex!(None),
                doorbells <- new_mutex!(None),
                dma <- new_mutex!(DmaState {
                    records: KVec::new(),
                    pinned: 0,
                    next_id: 0,
                    suspended: Cell::new(false),
                    domain: None,
                    bypass: KVec::new(),
                }),
            }),
        )
        .and_then(vfio::Registration::new_emulated);
        try_pin_init!(MdevData { reg: reg? })
    }
}

/// The VFIO device of an mdev.
#[pin_data]
struct VfioVdpa {
    handle: Arc<Handle>,
    /// Set when the mdev is being removed: from then on the device is
    /// stopped, holds no page, and every request fails with `ENODEV`.
    revoked: Atomic<bool>,
    /// The eventfd of the REQ interrupt: signalled when the mdev is being
    /// removed while open.
    #[pin]
    req: Mutex<Option<EventFd>>,
    /// What the device was given to reach. Taken before the handle's lock.
    #[pin]
    dma: Mutex<DmaState>,
    /// While the device is open and not revoked: the doorbell page of each
    /// queue that has one, which the NOTIFY region maps. A leaf lock: the
    /// fault handler takes it under the mmap lock.
    #[pin]
    doorbells: Mutex<Option<KVec<Option<vfio::IoPage>>>>,
}

/// Stops an open device for good and returns its pages (see
/// [`VfioVdpa::revoked`]).
fn revoke(dev: &vfio::Device<VfioVdpa>) {
    let this = dev.data();
    let mut st = this.dma.lock();
    this.revoked.store(true, Release);
    // No fault maps a doorbell from here on; the mapped ones go.
    *this.doorbells.lock() = None;
    dev.zap_mappings();
    // ENODEV: the parent is gone already, it reaches nothing.
    let _ = this.handle.with(|d| reset(d, &mut st));
    st.bypass.clear();
    let taken = remove_records(&this.handle, &mut st, |_| true);
    drop_domain(&this.handle, &mut st);
    clear_calls(&this.handle);
    drop(st);
    drop(taken);
}

/// Detaches the DMA device from the bridge's domain (back to its DMA API
/// domain) and frees it, while the device is bound.
fn drop_domain(handle: &Handle, st: &mut DmaState) {
    if let Some(dom) = st.domain.take() {
        // The revoke of a removal ran while the device was bound: it is only
        // `None` here if the device is gone and this is the close after.
        let _ = handle.with(|_| {
            drop(dom);
            Ok(())
        });
    }
}

/// Removes every call eventfd.
fn clear_calls(handle: &Handle) {
    let _ = handle.with(|d| {
        for q in 0..d.nvqs() {
            drop(handle.set_vq_call(q as u16, None));
        }
        Ok(())
    });
    drop(handle.set_config_call(None));
}

/// The doorbell page of each queue, where the parent has one (taken before
/// the leaf lock, [`VfioVdpa::doorbells`]).
fn doorbells(handle: &Handle) -> Result<KVec<Option<vfio::IoPage>>> {
    handle.with(|d| {
        let mut v = KVec::with_capacity(d.nvqs() as usize, GFP_KERNEL)?;
        for q in 0..d.nvqs() {
            v.push(d.vq_doorbell(q as u16), GFP_KERNEL)?;
        }
        Ok(v)
    })
}

/// After a reset: the doorbells as the parent now says, and the mapped ones
/// taken out of the processes' page tables (they fault in again).
fn remap_doorbells(dev: &vfio::Device<VfioVdpa>) -> Result {
    let this = dev.data();
    let bells = doorbells(&this.handle)?;
    let mut guard = this.doorbells.lock();
    if let Some(old) = (*guard).as_mut() {
        *old = bells;
    }
    drop(guard);
    dev.zap_mappings();
    Ok(())
}

impl VfioVdpa {
    /// `ENODEV` once the device is revoked.
    fn live(&self) -> Result {
        if self.revoked.load(Acquire) {
            Err(ENODEV)
        } else {
            Ok(())
        }
    }
}

/// The most ranges one `VFIO_VDPA_DMA_MAP` takes.
const DMA_MAX_RANGES: usize = 256;
/// The most ranges a device holds.
const DMA_MAX_RECORDS: usize = 4096;
/// `VFIO_VDPA_DMA_UNMAP_ALL`.
const DMA_UNMAP_ALL: u32 = 1;

/// A range of IOVAs the device may use, pinned.
struct Record {
    /// Which `VFIO_VDPA_DMA_MAP` call recorded it (see `dma_map`).
    id: u64,
    asid: u32,
    iova: u64,
    /// The last IOVA of the range (inclusive).
    last: u64,
    perm: Perm,
    /// The range's pages, pinned in chunks of at most `vfio::PIN_PAGES_MAX`;
    /// none while its `dma_map` call is pinning them.
    pins: KVec<vfio::PinnedPages<VfioVdpa>>,
}

impl Record {
    /// The number of pages pinned.
    fn pages(&self) -> usize {
        self.pins.iter().map(|p| p.phys().len()).sum()
    }
}

/// The DMA state of an open device.
struct DmaState {
    records: KVec<Record>,
    /// Pages pinned, over all records.
    pinned: usize,
    /// The id of the next record.
    next_id: u64,
    /// The user suspended the running device (`VHOST_VDPA_SUSPEND`).
    suspended: Cell<bool>,
    /// For a [`DmaModel::Platform`] parent, while the device is open: the
    /// domain the bridge puts the DMA device behind, as `vhost_vdpa` does.
    domain: Option<AttachedDomain>,
    /// The IRQ bypass producer of each queue's call eventfd, if it has one
    /// (indexed by queue): registered while the device is at `DRIVER_OK`
    /// for the queues the parent has an IRQ of their own for, as
    /// `vhost_vdpa` does.
    bypass: KVec<Option<Pin<KBox<Producer>>>>,
}

impl Record {
    /// The IOMMU permissions of the range, for a domain.
    fn prot(&self) -> Prot {
        let p = self.perm.as_raw();
        let mut prot = Prot::CACHE;
        if p & Perm::RO.as_raw() != 0 {
            prot = prot | Prot::READ;
        }
        if p & Perm::WO.as_raw() != 0 {
            prot = prot | Prot::WRITE;
        }
        prot
    }

    /// The physically contiguous runs of the range: IOVA, physical address,
    /// length.
    fn runs(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        let page = PAGE_SIZE as u64;
        let mut phys = self
            .pins
            .iter()
            .flat_map(|p| p.phys().iter().copied())
            .enumerate()
            .peekable();
        core::iter::from_fn(move || {
            let (i, pa) = phys.next()?;
            let mut len = page;
            while let Some(&(_, next)) = phys.peek() {
                if next != pa + len {
                    break;
                }
                len += page;
                phys.next();
            }
            Some((self.iova + i as u64 * page, pa, len))
        })
    }

    fn size(&self) -> u64 {
        self.last - self.iova + 1
    }
}

/// Gives address space `asid` of the device the records' translations (and
/// nothing else), physically contiguous pages merged: the whole map at once
/// ([`DmaModel::Batch`]), or, for [`DmaModel::Incremental`] parents, nothing
/// and then each run.
fn program(d: &BoundDevice<'_>, st: &DmaState, asid: u32) -> Result {
    let records = st.records.iter().filter(|r| r.asid == asid);
    // The bridge's own domain: a reset of the device does not touch it.
    if d.dma_model() == DmaModel::Platform {
        return Ok(());
    }
    if d.dma_model() == DmaModel::Incremental {
        d.set_empty_map(asid)?;
        for r in records {
            add_runs(d, st, r)?;
        }
        return Ok(());
    }
    // At most one run per page.
    let pages: usize = records.clone().map(Record::pages).sum();
    let mut tlb = OwnedIotlb::new(u32::try_from(pages.max(1)).map_err(|_| ENOSPC)?)?;
    for r in records {
        for (iova, pa, len) in r.runs() {
            tlb.add_range(iova, iova + len - 1, pa, r.perm)?;
        }
    }
    d.set_map(asid, tlb.iotlb())
}

/// Maps each run of `r`, for [`DmaModel::Incremental`] parents, or into
/// the bridge's domain for [`DmaModel::Platform`] ones.
fn add_runs(d: &BoundDevice<'_>, st: &DmaState, r: &Record) -> Result {
    let prot = r.prot();
    for (iova, pa, len) in r.runs() {
        match &st.domain {
            Some(dom) => dom.map(iova, pa, len, prot)?,
            None => d.dma_map(r.asid, iova, len, pa, r.perm)?,
        }
    }
    Ok(())
}

/// Removes the translations of `r` ([`DmaModel::Incremental`] or
/// [`DmaModel::Platform`]).
fn remove_runs(d: &BoundDevice<'_>, st: &DmaState, r: &Record) -> Result {
    match &st.domain {
        Some(dom) => {
            // The IOTLB is flushed when this returns.
            dom.unmap(r.iova, r.size());
            Ok(())
        }
        None => d.dma_unmap(r.asid, r.iova, r.size()),
    }
}

/// Gives the device the translations of the records `new` selects, all in
/// address space `asid`.
fn program_added(
    d: &BoundDevice<'_>,
    st: &DmaState,
    asid: u32,
    new: &dyn Fn(&Record) -> bool,
) -> Result {
    if d.dma_model() == DmaModel::Batch {
        return program(d, st, asid);
    }
    let mut added = st.records.iter().filter(|r| new(r));
    for (i, r) in added.clone().enumerate() {
        if let Err(e) = add_runs(d, st, r) {
            // Unmap what this call mapped.
            for r in added.by_ref().take(i + 1) {
                let _ = remove_runs(d, st, r);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Gives every address space the records' translations.
fn program_all(d: &BoundDevice<'_>, st: &DmaState) -> Result {
    (0..d.nas()).try_for_each(|asid| program(d, st, asid))
}

/// Resets the device, which then reaches only what the records say. The
/// producers are disconnected first: the parent frees its IRQs.
fn reset(d: &BoundDevice<'_>, st: &mut DmaState) -> Result {
    bypass_disconnect(st);
    d.reset()?;
    st.suspended.set(false);
    program_all(d, st)
}

/// Takes `taken` out of the device's reach. A running device that can be
/// suspended is, around it: not every parent waits for the accesses in
/// progress through a translation it removes (the C simulator copies
/// outside the lock its map updates take).
fn unprogram(d: &BoundDevice<'_>, st: &DmaState, taken: &[Record]) -> Result {
    // (Not if the user suspended it: it stays so.)
    let suspend = d.status() & status::DRIVER_OK != 0 && d.can_suspend() && !st.suspended.get();
    if suspend {
        d.suspend()?;
    }
    let mut ok = Ok(());
    for asid in 0..d.nas() {
        let mut gone = taken.iter().filter(|r| r.asid == asid).peekable();
        if gone.peek().is_none() {
            continue;
        }
        if d.dma_model() != DmaModel::Batch {
            for r in gone {
                ok = ok.and(remove_runs(d, st, r));
            }
        } else {
            ok = ok.and(program(d, st, asid));
        }
    }
    if suspend {
        ok = ok.and(d.resume());
    }
    ok
}

/// Takes the records `gone` selects out of the device's reach and returns
/// them: the translations go first (the parent returns from `set_map` only
/// once no access through an old one is in progress). The caller drops what
/// it gets, which unpins the pages, once it has released the DMA lock:
/// unpinning takes VFIO's locks, which VFIO holds while it calls
/// `dma_unmap`, which takes the DMA lock.
#[must_use = "dropping the records unpins their pages, outside the DMA lock"]
fn remove_records(
    handle: &Handle,
    st: &mut DmaState,
    gone: impl Fn(&Record) -> bool,
) -> KVec<Record> {
    let taken = take(&mut st.records, gone);
    if !taken.is_empty() {
        let st: &DmaState = st;
        let r = handle.with(|d| {
            let ok = unprogram(d, st, &taken);
            if ok.is_err() {
                // The device must not keep a translation to a page about to
                // be unpinned: stop it and leave it reaching nothing.
                let _ = d.reset();
                for asid in 0..d.nas() {
                    let _ = d.set_empty_map(asid);
                }
            }
            ok
        });
        // ENODEV: the parent is gone, it translates nothing any more.
        if let Err(e) = r {
            if e != ENODEV {
                pr_warn_ratelimited!("vfio_vdpa: device stopped, map update failed: {e:?}\n");
            }
        }
    }
    for r in taken.iter() {
        st.pinned -= r.pages();
    }
    taken
}

/// Moves the records `pred` selects out of `records`, in order.
fn take(records: &mut KVec<Record>, pred: impl Fn(&Record) -> bool) -> KVec<Record> {
    let mut taken = KVec::new();
    let mut i = 0;
    while i < records.len() {
        if !pred(&records[i]) {
            i += 1;
            continue;
        }
        // Room first, so that a record is never dropped here.
        if taken.reserve(1, GFP_KERNEL).is_err() {
            // Out of memory: leave the rest (they stay pinned and mapped
            // until the next attempt; nothing dangles).
            break;
        }
        match records.remove(i) {
            Ok(r) => {
                let _ = taken.push(r, GFP_KERNEL);
            }
            Err(_) => break,
        }
    }
    taken
}

/// `VFIO_VDPA_DMA_MAP`: pins the ranges and adds them to their address
/// space, all or none.
///
/// The DMA lock is not held while pinning: VFIO calls `dma_unmap` with its
/// own locks held, which pinning takes too (type1: `device_list_lock`, then
/// our lock; pinning takes `iommu->lock`, which is taken before
/// `device_list_lock` elsewhere). So the ranges are first recorded, empty
/// (they reserve their IOVAs and a `dma_unmap` or a revoke meanwhile removes
/// them), then pinned, then filled if they are still there.
fn dma_map(dev: &vfio::Device<VfioVdpa>, arg: usize) -> Result {
    const HDR: usize = 16;
    const RANGE: usize = 24;
    let mut r = reader(arg, HDR);
    let argsz: u32 = r.read()?;
    let flags: u32 = r.read()?;
    let asid: u32 = r.read()?;
    let count: u32 = r.read()?;
    let count = count as usize;
    if flags != 0 || count == 0 || (argsz as usize) < HDR {
        return Err(EINVAL);
    }
    if count > DMA_MAX_RANGES {
        return Err(E2BIG);
    }
    if (argsz as usize) < HDR + count * RANGE {
        return Err(EINVAL);
    }
    let this = dev.data();
    let nas = this.handle.with(|d| Ok(d.nas()))?;
    if asid >= nas {
        return Err(EINVAL);
    }
    let mut r = reader(arg + HDR, count * RANGE);
    let mut ranges: KVec<(u64, u64, Perm)> = KVec::with_capacity(count, GFP_KERNEL)?;
    for _ in 0..count {
        let iova: u64 = r.read()?;
        let size: u64 = r.read()?;
        let perm: u32 = r.read()?;
        let reserved: u32 = r.read()?;
        let page = PAGE_SIZE as u64;
        if reserved != 0 || size == 0 || iova % page != 0 || size % page != 0 {
            return Err(EINVAL);
        }
        let last = iova.checked_add(size - 1).ok_or(EOVERFLOW)?;
        ranges.push(
            (iova, last, Perm::from_raw(perm).ok_or(EINVAL)?),
            GFP_KERNEL,
        )?;
    }

    // 1. Record the ranges, empty.
    let first_id = {
        let mut st = this.dma.lock();
        // A revoke takes this lock: nothing is recorded after it.
        this.live()?;
        let (first, last) = this.handle.with(|d| Ok(iova_range(d, &st)))?;
        if st.records.len() + count > DMA_MAX_RECORDS {
            return Err(ENOSPC);
        }
        for (i, &(iova, end, _)) in ranges.iter().enumerate() {
            if iova < first || end > last {
                return Err(ERANGE);
            }
            let hit = |o: &(u64, u64, Perm)| o.0 <= end && iova <= o.1;
            let rec_hit = |o: &Record| o.asid == asid && o.iova <= end && iova <= o.last;
            if st.records.iter().any(rec_hit) || ranges.iter().take(i).any(hit) {
                return Err(EEXIST);
            }
        }
        st.records.reserve(count, GFP_KERNEL)?;
        let id = st.next_id;
        st.next_id += count as u64;
        for (i, &(iova, last, perm)) in ranges.iter().enumerate() {
            st.records.push(
                Record {
                    id: id + i as u64,
                    asid,
                    iova,
                    last,
                    perm,
                    pins: KVec::new(),
                },
                GFP_KERNEL,
            )?;
        }
        id
    };
    let ours = |r: &Record| r.id >= first_id && r.id < first_id + count as u64;

    // 2. Pin, unlocked. A failure unpins what was pinned (dropped).
    let pinned = pin_ranges(dev, &ranges);
    let mut st = this.dma.lock();
    let mut pins = match pinned {
        Ok(p) => p,
        Err(e) => {
            // (Empty records: dropping them unpins nothing.)
            st.records.retain(|r| !ours(r));
            return Err(e);
        }
    };
    // 3. Fill the records, if they all are still there.
    if st.records.iter().filter(|r| ours(r)).count() != count {
        // A VFIO unmap, a DMA_UNMAP or a revoke took some: the pages go
        // back, unpinned without the lock.
        st.records.retain(|r| !ours(r));
        drop(st);
        drop(pins);
        this.live()?;
        return Err(EFAULT);
    }
    let mut pages = 0;
    for (rec, p) in st
        .records
        .iter_mut()
        .filter(|r| ours(r))
        .zip(pins.drain_all())
    {
        rec.pins = p;
        pages += rec.pages();
    }
    st.pinned += pages;
    if let Err(e) = this.handle.with(|d| program_added(d, &st, asid, &ours)) {
        // Back to the old map; the new pages are unpinned, without the lock.
        let taken = take(&mut st.records, ours);
        st.pinned -= pages;
        // (Incremental and platform parents had this call's mappings undone.)
        let _ = this.handle.with(|d| match d.dma_model() {
            DmaModel::Batch => program(d, &st, asid),
            _ => Ok(()),
        });
        drop(st);
        drop(taken);
        return Err(e);
    }
    Ok(())
}

/// Pins every range (in chunks of at most `vfio::PIN_PAGES_MAX` pages), for
/// the device to write where its permission says so.
fn pin_ranges(
    dev: &vfio::Device<VfioVdpa>,
    ranges: &[(u64, u64, Perm)],
) -> Result<KVec<KVec<vfio::PinnedPages<VfioVdpa>>>> {
    let mut all = KVec::with_capacity(ranges.len(), GFP_KERNEL)?;
    for &(iova, last, perm) in ranges {
        let write = perm.as_raw() & Perm::WO.as_raw() != 0;
        let total = ((last - iova) / PAGE_SIZE as u64 + 1) as usize;
        let mut pins = KVec::new();
        let mut done = 0;
        while done < total {
            let n = (total - done).min(vfio::PIN_PAGES_MAX);
            let at = iova + (done * PAGE_SIZE) as u64;
            // One errno for "not mapped in VFIO" on both backends.
            let p = dev.pin_pages(at, n, write).map_err(|e| {
                if e == EINVAL || e == ENOENT {
                    EFAULT
                } else {
                    e
                }
            })?;
            pins.push(p, GFP_KERNEL)?;
            done += n;
        }
        all.push(pins, GFP_KERNEL)?;
    }
    Ok(all)
}

/// `VFIO_VDPA_DMA_UNMAP`: removes whole ranges of one address space.
fn dma_unmap_ioctl(dev: &vfio::Device<VfioVdpa>, arg: usize) -> Result {
    let mut r = reader(arg, 32);
    let argsz: u32 = r.read()?;
    let flags: u32 = r.read()?;
    let asid: u32 = r.read()?;
    let reserved: u32 = r.read()?;
    let iova: u64 = r.read()?;
    let size: u64 = r.read()?;
    if argsz < 32 || flags & !DMA_UNMAP_ALL != 0 || reserved != 0 {
        return Err(EINVAL);
    }
    let this = dev.data();
    if asid >= this.handle.with(|d| Ok(d.nas()))? {
        return Err(EINVAL);
    }
    let mut st = this.dma.lock();
    if flags & DMA_UNMAP_ALL != 0 {
        if iova != 0 || size != 0 {
            return Err(EINVAL);
        }
        let taken = remove_records(&this.handle, &mut st, |r| r.asid == asid);
        drop(st);
        drop(taken);
        return Ok(());
    }
    if size == 0 {
        return Err(EINVAL);
    }
    let end = iova.checked_add(size - 1).ok_or(EOVERFLOW)?;
    let hit = |r: &Record| r.asid == asid && r.iova <= end && iova <= r.last;
    // No bisecting: every range it touches must lie inside.
    if st
        .records
        .iter()
        .filter(|r| hit(r))
        .any(|r| r.iova < iova || r.last > end)
    {
        return Err(EINVAL);
    }
    let taken = remove_records(&this.handle, &mut st, hit);
    drop(st);
    match taken.len() {
        0 => Err(ENOENT),
        _ => Ok(()),
    }
}

/// vhost-vdpa's `SET_STATUS` rules, and `DRIVER_OK` only after `FEATURES_OK`.
fn set_status(d: &BoundDevice<'_>, st: &mut DmaState, s: u8) -> Result {
    if s == 0 {
        return reset(d, st);
    }
    let old = d.status();
    if old & !s != 0 {
        return Err(EINVAL);
    }
    if s & status::DRIVER_OK != 0 && s & status::FEATURES_OK == 0 {
        return Err(EINVAL);
    }
    d.set_status(s);
    if old & status::DRIVER_OK == 0 && driver_ok(d) {
        // The parent has its IRQs now.
        for q in 0..st.bypass.len() {
            bypass_connect(d, st, q as u16);
        }
    }
    Ok(())
}

/// Registers queue `q`'s producer, if it has one and the parent has an IRQ
/// of the queue's own. A failure (another producer on that eventfd) only
/// loses the bypass: the eventfd still gets the calls, as with `vhost_vdpa`.
fn bypass_connect(d: &BusDevice<device::Bound>, st: &mut DmaState, q: u16) {
    let Some(Some(p)) = st.bypass.get_mut(usize::from(q)) else {
        return;
    };
    if let Some(irq) = d.vq_irq(q) {
        if let Err(e) = p.as_mut().register(irq) {
            pr_info_ratelimited!(
                "vfio_vdpa: queue {}: no irq bypass producer for IRQ {}: {:?}\n",
                q,
                irq,
                e
            );
        }
    }
}

/// Unregisters every producer (they stay, for the next `DRIVER_OK`).
fn bypass_disconnect(st: &mut DmaState) {
    for p in st.bypass.iter_mut().flatten() {
        p.as_mut().unregister();
    }
}

/// A queue index of a vring ioctl: `ENOBUFS` for a queue the device lacks,
/// as vhost-vdpa answers.
fn vq_index(d: &BusDevice<device::Bound>, idx: u32) -> Result<u16> {
    if idx >= d.nvqs() {
        return Err(ENOBUFS);
    }
    Ok(idx as u16)
}

fn driver_ok(d: &BusDevice<device::Bound>) -> bool {
    d.status() & status::DRIVER_OK != 0
}

/// The IOVAs the device can use: the parent's range, within the bridge's
/// domain's aperture if it has one.
fn iova_range(d: &BusDevice<device::Bound>, st: &DmaState) -> (u64, u64) {
    let (first, last) = d.iova_range();
    match &st.domain {
        Some(dom) => {
            let (a, b) = dom.aperture();
            (first.max(a), last.min(b))
        }
        None => (first, last),
    }
}

/// The vhost backend features offered: persistent mappings always, suspend
/// and resume where the parent has them.
fn backend_features(d: &BusDevice<device::Bound>) -> u64 {
    let mut f = vhost::BACKEND_F_IOTLB_PERSIST;
    if d.can_suspend() {
        f |= vhost::BACKEND_F_SUSPEND | vhost::BACKEND_F_RESUME;
    }
    f
}

/// `VHOST_SET_VRING_NUM`, with vhost-vdpa's checks.
fn set_vring_num(d: &BusDevice<device::Bound>, idx: u32, num: u32) -> Result {
    let idx = vq_index(d, idx)?;
    if num == 0 || num > u32::from(d.vq_num_max()) || !num.is_power_of_two() {
        return Err(EINVAL);
    }
    if driver_ok(d) {
        return Err(EBUSY);
    }
    d.set_vq_num(idx, num)
}

/// `VHOST_SET_VRING_ADDR`: IOVAs, aligned as the virtio spec asks.
fn set_vring_addr(d: &BusDevice<device::Bound>, suspended: bool, arg: usize) -> Result {
    let mut r = reader(arg, core::mem::size_of::<vhost::Addr>());
    let idx: u32 = r.read()?;
    let flags: u32 = r.read()?;
    let desc: u64 = r.read()?;
    let used: u64 = r.read()?;
    let avail: u64 = r.read()?;
    let idx = vq_index(d, idx)?;
    if flags & vhost::VRING_F_LOG != 0 {
        return Err(EOPNOTSUPP);
    }
    if desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0 {
        return Err(EINVAL);
    }
    if driver_ok(d) && !suspended {
        return Err(EINVAL);
    }
    d.set_vq_address(idx, desc, avail, used)
}

/// The split-ring state of `VHOST_SET_VRING_BASE`/`GET_VRING_BASE`.
fn check_split(d: &BusDevice<device::Bound>) -> Result {
    if d.driver_features() & virtio::features::RING_PACKED != 0 {
        return Err(EOPNOTSUPP);
    }
    Ok(())
}

fn reader(arg: usize, len: usize) -> UserSliceReader {
    UserSlice::new(UserPtr::from_addr(arg), len).reader()
}

fn writer(arg: usize, len: usize) -> UserSliceWriter {
    UserSlice::new(UserPtr::from_addr(arg), len).writer()
}

/// Reads a `struct vhost_vring_state`.
fn read_state(arg: usize) -> Result<(u32, u32)> {
    let mut r = reader(arg, 8);
    Ok((r.read()?, r.read()?))
}

/// Writes a `struct vhost_vring_state`.
fn write_state(arg: usize, idx: u32, num: u32) -> Result {
    let mut w = writer(arg, 8);
    w.write(&idx)?;
    w.write(&num)
}

/// `VFIO_DEVICE_SET_IRQS` for the VQ, CONFIG and REQ indexes: eventfd
/// triggers. A queue's eventfd also keys its IRQ bypass producer.
fn set_irqs(this: &VfioVdpa, set: vfio::IrqSet) -> Result {
    let handle = &this.handle;
    if set.action != vfio::IrqAction::Trigger {
        return Err(EINVAL);
    }
    // Every file first, so that a bad one changes nothing: for each, the
    // eventfd to signal and the producer's key.
    let mut fds: KVec<Option<(EventFd, EventFd)>> = KVec::new();
    match set.data {
        vfio::IrqData::EventFd(raw) => {
            for fd in raw.iter() {
                let f = match *fd {
                    -1 => None,
                    fd => Some(EventFd::pair_from_fd(fd)?),
                };
                fds.push(f, GFP_KERNEL)?;
            }
        }
        // DATA_NONE with count 0: every trigger of the index goes.
        vfio::IrqData::None if set.count == 0 => {
            let n = match set.index {
                vfio::vdpa::VQ_IRQ_INDEX => handle.with(|d| Ok(d.nvqs()))?,
                _ => 1,
            };
            for _ in 0..n {
                fds.push(None, GFP_KERNEL)?;
            }
        }
        // Signalling from the kernel (loopback) is not offered.
        _ => return Err(EINVAL),
    }
    let start = if set.count == 0 { 0 } else { set.start } as usize;
    match set.index {
        vfio::vdpa::VQ_IRQ_INDEX => {
            let mut st = this.dma.lock();
            let n = handle.with(|d| Ok(d.nvqs()))? as usize;
            while st.bypass.len() < n {
                st.bypass.push(None, GFP_KERNEL)?;
            }
            for (i, fd) in fds.drain_all().enumerate() {
                let q = (start + i) as u16;
                // The producer goes before the eventfd it stands for.
                let old = st.bypass[usize::from(q)].take();
                drop(old);
                let (call, key) = fd.unzip();
                drop(handle.set_vq_call(q, call)?);
                if let Some(key) = key {
                    st.bypass[usize::from(q)] =
                        Some(KBox::pin_init(Producer::new(key), GFP_KERNEL)?);
                    handle.with(|d| {
                        if driver_ok(d) {
                            bypass_connect(d, &mut st, q);
                        }
                        Ok(())
                    })?;
                }
            }
        }
        vfio::vdpa::CONFIG_IRQ_INDEX => {
            let fd = fds.drain_all().next().flatten();
            drop(handle.set_config_call(fd.map(|(call, _)| call)));
        }
        _ => {
            let fd = fds.drain_all().next().flatten();
            let old = core::mem::replace(&mut *this.req.lock(), fd.map(|(call, _)| call));
            drop(old);
        }
    }
    Ok(())
}

#[vtable]
impl vfio::DeviceOps for VfioVdpa {
    fn open_device(dev: &vfio::Device<Self>) -> Result {
        let this = dev.data();
        this.live()?;
        let doorbells = doorbells(&this.handle)?;
        let mut st = this.dma.lock();
        let r = this.handle.with(|d| {
            if d.dma_model() == DmaModel::Platform {
                // A fresh domain: the device reaches nothing until mapped.
                let dma = d.dma_device().ok_or(EOPNOTSUPP)?;
                if !Domain::cache_coherent(dma) {
                    return Err(EOPNOTSUPP);
                }
                st.domain = Some(Domain::alloc_paging(dma)?.attach(dma)?);
            }
            reset(d, &mut st)
        });
        if r.is_err() {
            // No close follows a failed open.
            drop_domain(&this.handle, &mut st);
        } else {
            *this.doorbells.lock() = Some(doorbells);
        }
        r
    }

    fn close_device(dev: &vfio::Device<Self>) {
        let this = dev.data();
        let mut st = this.dma.lock();
        // No mapping is left: each holds a file of the device.
        *this.doorbells.lock() = None;
        // Stops the data path; ENODEV: the device is gone, nothing to stop.
        let _ = this.handle.with(|d| reset(d, &mut st));
        st.bypass.clear();
        let taken = remove_records(&this.handle, &mut st, |_| true);
        drop_domain(&this.handle, &mut st);
        clear_calls(&this.handle);
        drop(this.req.lock().take());
        drop(st);
        drop(taken);
    }

    fn request(dev: &vfio::Device<Self>, _count: u32) {
        if let Some(fd) = dev.data().req.lock().as_ref() {
            fd.signal();
        }
    }

    fn info(_dev: &vfio::Device<Self>) -> vfio::DeviceInfo {
        vfio::DeviceInfo {
            flags: vfio::device_flags::VDPA | vfio::device_flags::RESET,
            num_regions: vfio::vdpa::NUM_REGIONS,
            num_irqs: vfio::vdpa::NUM_IRQS,
        }
    }

    fn region_info(dev: &vfio::Device<Self>, index: u32) -> Result<vfio::RegionInfo> {
        let this = dev.data();
        let mut info = vfio::RegionInfo {
            offset: vfio::region_offset(index),
            ..Default::default()
        };
        match index {
            vfio::vdpa::CONFIG_REGION_INDEX => {
                info.size = this.handle.with(|d| Ok(d.config_size()))? as u64;
                info.flags = vfio::region_flags::READ | vfio::region_flags::WRITE;
            }
            vfio::vdpa::NOTIFY_REGION_INDEX => {
                let page = PAGE_SIZE as u64;
                info.size = u64::from(this.handle.with(|d| Ok(d.nvqs()))?) * page;
                info.flags = vfio::region_flags::WRITE;
                // The queues with a doorbell page can be mapped: all of
                // them (no capability), or the runs of them listed.
                let guard = this.doorbells.lock();
                let bells = guard.as_deref().unwrap_or(&[]);
                if bells.iter().any(Option::is_some) {
                    info.flags |= vfio::region_flags::MMAP;
                }
                if bells.iter().any(Option::is_none) {
                    for (q, b) in bells.iter().enumerate() {
                        let offset = q as u64 * page;
                        match info.sparse_mmap.last_mut() {
                            _ if b.is_none() => {}
                            Some(a) if a.offset + a.size == offset => a.size += page,
                            _ => info
                                .sparse_mmap
                                .push(vfio::MmapArea { offset, size: page }, GFP_KERNEL)?,
                        }
                    }
                }
            }
            _ => return Err(EINVAL),
        }
        Ok(info)
    }

    /// Maps doorbells of the NOTIFY region, one page per queue, write only:
    /// each page of the mapping must be a queue's doorbell page.
    fn mmap(dev: &vfio::Device<Self>, vma: &VmaNew, offset: u64) -> Result {
        let this = dev.data();
        this.live()?;
        let (index, off) = vfio::region_of(offset);
        if index != u64::from(vfio::vdpa::NOTIFY_REGION_INDEX) {
            return Err(EINVAL);
        }
        if vma.readable() || vma.executable() {
            return Err(EINVAL);
        }
        vma.try_clear_mayread()?;
        vma.try_clear_mayexec()?;
        let first = off >> PAGE_SHIFT;
        let pages = ((vma.end() - vma.start()) >> PAGE_SHIFT) as u64;
        let guard = this.doorbells.lock();
        let bells = guard.as_deref().ok_or(ENODEV)?;
        let all = first
            .checked_add(pages)
            .and_then(|end| bells.get(usize::try_from(first).ok()?..usize::try_from(end).ok()?))
            .ok_or(EINVAL)?;
        if all.iter().any(Option::is_none) {
            return Err(EINVAL);
        }
        Ok(())
    }

    fn fault(dev: &vfio::Device<Self>, pgoff: u64) -> Option<vfio::IoPage> {
        let (index, off) = vfio::region_of(pgoff.checked_mul(PAGE_SIZE as u64)?);
        if index != u64::from(vfio::vdpa::NOTIFY_REGION_INDEX) {
            return None;
        }
        let this = dev.data();
        let guard = this.doorbells.lock();
        *guard
            .as_deref()?
            .get(usize::try_from(off >> PAGE_SHIFT).ok()?)?
    }

    fn irq_info(dev: &vfio::Device<Self>, index: u32) -> Result<vfio::IrqInfo> {
        let count = match index {
            vfio::vdpa::VQ_IRQ_INDEX => dev.data().handle.with(|d| Ok(d.nvqs()))?,
            vfio::vdpa::CONFIG_IRQ_INDEX | vfio::vdpa::REQ_IRQ_INDEX => 1,
            _ => return Err(EINVAL),
        };
        Ok(vfio::IrqInfo {
            flags: vfio::irq_flags::EVENTFD | vfio::irq_flags::NORESIZE,
            count,
        })
    }

    fn set_irqs(dev: &vfio::Device<Self>, set: vfio::IrqSet) -> Result {
        dev.data().live()?;
        set_irqs(dev.data().get_ref(), set)
    }

    fn read(dev: &vfio::Device<Self>, buf: &mut UserSliceWriter, offset: u64) -> Result<usize> {
        dev.data().live()?;
        let off = config_offset(offset)?;
        let len = buf.len();
        let data = dev.data().handle.with(|d| {
            if len > d.config_size() {
                return Err(EINVAL);
            }
            let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
            d.get_config(off, &mut v)?;
            Ok(v)
        })?;
        buf.write_slice(&data)?;
        Ok(len)
    }

    fn write(dev: &vfio::Device<Self>, buf: &mut UserSliceReader, offset: u64) -> Result<usize> {
        dev.data().live()?;
        let handle = &dev.data().handle;
        let len = buf.len();
        let (index, off) = vfio::region_of(offset);
        if index == u64::from(vfio::vdpa::NOTIFY_REGION_INDEX) {
            // A 2- or 4-byte write at the start of a queue's page kicks it.
            let page = PAGE_SIZE as u64;
            if (len != 2 && len != 4) || off % page != 0 {
                return Err(EINVAL);
            }
            let q = u32::try_from(off / page).map_err(|_| EINVAL)?;
            handle.with(|d| d.kick_vq(vq_index(d, q).map_err(|_| EINVAL)?))?;
            return Ok(len);
        }
        let off = config_offset(offset)?;
        if len > handle.with(|d| Ok(d.config_size()))? {
            return Err(EINVAL);
        }
        let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        buf.read_slice(&mut v)?;
        handle.with(|d| d.set_config(off, &v))?;
        Ok(len)
    }

    fn ioctl(dev: &vfio::Device<Self>, cmd: u32, arg: usize) -> Result<isize> {
        let this = dev.data();
        this.live()?;
        let handle = &this.handle;
        match cmd {
            vhost::DMA_MAP => dma_map(dev, arg)?,
            vhost::DMA_UNMAP => dma_unmap_ioctl(dev, arg)?,
            vhost::GET_FEATURES => {
                let f = handle.with(|d| Ok(d.device_features()))?;
                writer(arg, 8).write(&f)?;
            }
            vhost::SET_FEATURES => {
                let f: u64 = reader(arg, 8).read()?;
                handle.with(|d| {
                    if d.status() & status::FEATURES_OK != 0 {
                        return Err(EBUSY);
                    }
                    d.set_features(f)
                })?;
            }
            vhost::GET_BACKEND_FEATURES => {
                let f = handle.with(|d| Ok(backend_features(d)))?;
                writer(arg, 8).write(&f)?;
            }
            vhost::SET_BACKEND_FEATURES => {
                let f: u64 = reader(arg, 8).read()?;
                if f & !handle.with(|d| Ok(backend_features(d)))? != 0 {
                    return Err(EOPNOTSUPP);
                }
            }
            vhost::VDPA_SUSPEND => {
                let st = this.dma.lock();
                handle.with(|d| {
                    // vhost-vdpa's rule: nothing to do before DRIVER_OK.
                    if driver_ok(d) {
                        d.suspend()?;
                        st.suspended.set(true);
                    }
                    Ok(())
                })?;
            }
            vhost::VDPA_RESUME => {
                let st = this.dma.lock();
                handle.with(|d| {
                    if st.suspended.get() {
                        d.resume()?;
                        st.suspended.set(false);
                    }
                    Ok(())
                })?;
            }
            vhost::SET_OWNER => {}
            vhost::VDPA_GET_DEVICE_ID => {
                let id = handle.with(|d| Ok(d.device_id()))?;
                writer(arg, 4).write(&id)?;
            }
            vhost::VDPA_GET_STATUS => {
                let s = handle.with(|d| Ok(d.status()))?;
                writer(arg, 1).write(&s)?;
            }
            vhost::VDPA_SET_STATUS => {
                let s: u8 = reader(arg, 1).read()?;
                let mut st = this.dma.lock();
                handle.with(|d| set_status(d, &mut st, s))?;
                drop(st);
                if s == 0 {
                    remap_doorbells(dev)?;
                }
            }
            vhost::VDPA_GET_CONFIG | vhost::VDPA_SET_CONFIG => {
                let (off, len) = read_state(arg)?;
                let (off, len) = (off as usize, len as usize);
                let at = arg + 8;
                // Checked before anything is allocated for it.
                let size = handle.with(|d| Ok(d.config_size()))?;
                if len == 0 || off.checked_add(len).is_none_or(|end| end > size) {
                    return Err(EINVAL);
                }
                if cmd == vhost::VDPA_GET_CONFIG {
                    let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
                    handle.with(|d| d.get_config(off, &mut v))?;
                    writer(at, len).write_slice(&v)?;
                } else {
                    let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
                    reader(at, len).read_slice(&mut v)?;
                    handle.with(|d| d.set_config(off, &v))?;
                }
            }
            vhost::VDPA_GET_CONFIG_SIZE => {
                let size = handle.with(|d| Ok(d.config_size() as u32))?;
                writer(arg, 4).write(&size)?;
            }
            vhost::VDPA_GET_VQS_COUNT => {
                let n = handle.with(|d| Ok(d.nvqs()))?;
                writer(arg, 4).write(&n)?;
            }
            vhost::VDPA_GET_GROUP_NUM => {
                let n = handle.with(|d| Ok(d.ngroups()))?;
                writer(arg, 4).write(&n)?;
            }
            vhost::VDPA_GET_AS_NUM => {
                let n = handle.with(|d| Ok(d.nas()))?;
                writer(arg, 4).write(&n)?;
            }
            vhost::VDPA_GET_IOVA_RANGE => {
                let st = this.dma.lock();
                let (first, last) = handle.with(|d| Ok(iova_range(d, &st)))?;
                let mut w = writer(arg, 16);
                w.write(&first)?;
                w.write(&last)?;
            }
            vhost::VDPA_GET_VRING_NUM => {
                let n = handle.with(|d| Ok(d.vq_num_max()))?;
                writer(arg, 2).write(&n)?;
            }
            vhost::SET_VRING_NUM => {
                let (idx, num) = read_state(arg)?;
                handle.with(|d| set_vring_num(d, idx, num))?;
            }
            vhost::SET_VRING_ADDR => {
                let suspended = this.dma.lock().suspended.get();
                handle.with(|d| set_vring_addr(d, suspended, arg))?;
            }
            vhost::SET_VRING_BASE => {
                let (idx, num) = read_state(arg)?;
                let suspended = this.dma.lock().suspended.get();
                handle.with(|d| {
                    let idx = vq_index(d, idx)?;
                    check_split(d)?;
                    if driver_ok(d) && !suspended {
                        return Err(EINVAL);
                    }
                    d.set_vq_avail_index(idx, num as u16)
                })?;
            }
            vhost::GET_VRING_BASE => {
                let (idx, _) = read_state(arg)?;
                let n = handle.with(|d| {
                    let idx = vq_index(d, idx)?;
                    check_split(d)?;
                    d.vq_avail_index(idx)
                })?;
                write_state(arg, idx, u32::from(n))?;
            }
            vhost::VDPA_SET_VRING_ENABLE => {
                let (idx, num) = read_state(arg)?;
                handle.with(|d| d.set_vq_ready(vq_index(d, idx)?, num != 0))?;
            }
            vhost::VDPA_GET_VRING_GROUP => {
                let (idx, _) = read_state(arg)?;
                let g = handle.with(|d| d.vq_group(vq_index(d, idx)?))?;
                write_state(arg, idx, g)?;
            }
            vhost::VDPA_GET_VRING_SIZE => {
                let (idx, _) = read_state(arg)?;
                let n = handle.with(|d| d.vq_size(vq_index(d, idx)?))?;
                write_state(arg, idx, u32::from(n))?;
            }
            vhost::VDPA_SET_GROUP_ASID => {
                let (group, asid) = read_state(arg)?;
                handle.with(|d| {
                    if group >= d.ngroups() || asid >= d.nas() {
                        return Err(EINVAL);
                    }
                    if driver_ok(d) {
                        return Err(EBUSY);
                    }
                    d.set_group_asid(group, asid)
                })?;
            }
            vfio::DEVICE_RESET => {
                let mut st = this.dma.lock();
                handle.with(|d| reset(d, &mut st))?;
                drop(st);
                remap_doorbells(dev)?;
            }
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }

    fn dma_unmap(dev: &vfio::Device<Self>, iova: u64, length: u64) {
        let this = dev.data();
        let mut st = this.dma.lock();
        let end = iova.saturating_add(length.max(1) - 1);
        let taken = remove_records(&this.handle, &mut st, |r| r.iova <= end && iova <= r.last);
        drop(st);
        drop(taken);
    }
}

/// The offset inside the CONFIG region of a file offset; `EINVAL` for any
/// other region.
fn config_offset(offset: u64) -> Result<usize> {
    let (index, off) = vfio::region_of(offset);
    if index != u64::from(vfio::vdpa::CONFIG_REGION_INDEX) {
        return Err(EINVAL);
    }
    usize::try_from(off).map_err(|_| EINVAL)
}
