// SPDX-License-Identifier: GPL-2.0

//! The generic simulator core: the vDPA ops, the virtqueues, the address
//! spaces and the worker, over a [`DeviceType`] that knows what the device
//! does with its queues.

use kernel::{
    new_mutex, new_work, pr_warn_ratelimited,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    vdpa::{
        self,
        status,
        BusDriver,
        Callbacks,
        IovaRange,
        VendorStats,
        VqState, //
    },
    vhost::{
        backend,
        iotlb::{
            AddressSpace,
            Iotlb,
            Perm, //
        },
        vringh::{
            Kiov,
            Vring, //
        },
    },
    virtio::features,
    workqueue::{
        self,
        OwnedQueue,
        Work,
        WorkItem, //
    },
};

/// The features every simulated device offers.
pub(crate) const COMMON_FEATURES: u64 =
    features::VERSION_1 | features::ACCESS_PLATFORM | features::ANY_LAYOUT;

/// The largest virtqueue.
const QUEUE_MAX: u16 = 256;
/// The alignment of the virtqueue areas.
const QUEUE_ALIGN: u32 = 4096;
/// The largest config space of a device type.
const MAX_CONFIG: usize = 128;
/// How many descriptor chains of one queue a worker run of a net device
/// handles before it requeues itself (at most one MTU of 9000 bytes each).
pub(crate) const BUDGET: u32 = 128;

/// What a device type (net, blk) adds to the core.
pub(crate) trait DeviceType: Sized + Send + Sync + 'static {
    /// The virtio device id.
    const DEVICE_ID: u32;
    /// The number of virtqueues.
    const NVQS: u16;
    /// The number of virtqueue groups.
    const NGROUPS: u32;
    /// The number of address spaces.
    const NAS: u32;
    /// The size of the config space (at most 128 bytes).
    const CONFIG_SIZE: usize;

    /// The device's own state, under the device lock.
    type State: Send + Unpin;

    /// Returns the group of a virtqueue.
    fn vq_group(_idx: u16) -> u32 {
        0
    }

    /// Writes the config space (`CONFIG_SIZE` bytes) into `out`.
    fn read_config(state: &Self::State, features: u64, out: &mut [u8]);

    /// Takes a write of the config space (`CONFIG_SIZE` bytes, already
    /// updated with the new bytes).
    fn write_config(_state: &mut Self::State, _config: &[u8]) {}

    /// Processes the virtqueues for a bounded amount of work (the device
    /// lock is held throughout). Returns true if work may be left: the
    /// worker then queues itself again, so that what is left is handled
    /// without a new kick, after the other devices' workers had their turn.
    fn process(core: &mut Core<Self>) -> bool;

    /// Fills the vendor statistics of a virtqueue.
    fn stats(_state: &Self::State, _idx: u16, _stats: &mut VendorStats<'_>) -> Result {
        Err(EINVAL)
    }
}

/// One virtqueue of a simulated device.
pub(crate) struct Vq {
    /// The ring, translated through the address space of the queue's group.
    pub(crate) ring: Vring,
    /// The readable buffers of the chain being handled.
    pub(crate) riov: Kiov,
    /// The writable buffers of the chain being handled.
    pub(crate) wiov: Kiov,
    num: u32,
    desc: u64,
    driver: u64,
    device: u64,
    /// Whether the driver enabled the queue (and it is set up).
    pub(crate) ready: bool,
    /// The queue's index, to signal its callback.
    idx: u16,
    callbacks: Arc<Callbacks>,
}

impl Vq {
    fn new(idx: u16, callbacks: Arc<Callbacks>) -> Self {
        Vq {
            ring: Vring::new(),
            riov: Kiov::new(),
            wiov: Kiov::new(),
            num: 0,
            desc: 0,
            driver: 0,
            device: 0,
            ready: false,
            idx,
            callbacks,
        }
    }

    fn reset(&mut self) {
        self.ring.stop();
        self.ring.set_last_avail_idx(0);
        self.ring.set_last_used_idx(0);
        self.num = 0;
        self.desc = 0;
        self.driver = 0;
        self.device = 0;
        self.ready = false;
    }

    /// Returns the chain `head` with `len` bytes written and signals the
    /// driver if it asked for it.
    pub(crate) fn complete(&mut self, head: u16, len: u32) {
        if self.ring.complete(head, len).is_err() {
            return;
        }
        if self.ring.need_notify().unwrap_or(true) {
            self.callbacks.signal_vq(self.idx);
        }
    }
}

/// The mutable state of a simulated device, under its lock.
pub(crate) struct Core<D: DeviceType> {
    /// The virtqueues.
    pub(crate) vqs: KVec<Vq>,
    /// The negotiated features.
    pub(crate) features: u64,
    supported: u64,
    status: u8,
    suspended: bool,
    pending_kick: bool,
    removed: bool,
    generation: u32,
    group_asid: KVec<u32>,
    /// Per address space: true while it holds its default mappings (see
    /// [`Sim::default_map`]), false once the driver mapped memory in it.
    default_map: KVec<bool>,
    /// The device type's own state.
    pub(crate) dev: D::State,
}

impl<D: DeviceType> Core<D> {
    fn running(&self) -> bool {
        self.status & status::DRIVER_OK != 0 && !self.suspended && !self.removed
    }
}

/// The simulated device's state shared with its worker.
#[pin_data]
pub(crate) struct Shared<D: DeviceType> {
    #[pin]
    core: Mutex<Core<D>>,
    spaces: KVec<Arc<AddressSpace>>,
    queue: Arc<OwnedQueue>,
    #[pin]
    work: Work<Shared<D>>,
}

kernel::impl_has_work! {
    impl{D: DeviceType} HasWork<Shared<D>> for Shared<D> { self.work }
}

impl<D: DeviceType> WorkItem for Shared<D> {
    type Pointer = Arc<Shared<D>>;

    fn run(this: Arc<Shared<D>>) {
        let more = {
            let mut core = this.core.lock();
            if !core.running() {
                if core.suspended && !core.removed {
                    core.pending_kick = true;
                }
                false
            } else {
                D::process(&mut core)
            }
        };
        if more {
            // Another run for what the budget left; kicks meanwhile merge in.
            let queue = this.queue.clone();
            let _ = queue.enqueue(this);
        }
    }
}

impl<D: DeviceType> Shared<D> {
    fn schedule(self: &Arc<Self>) {
        // Already queued is fine: that run will see the new buffers.
        let _ = self.queue.enqueue(self.clone());
    }
}

/// The device data of a simulated vDPA device.
pub(crate) struct Sim<D: DeviceType> {
    shared: Arc<Shared<D>>,
    /// The bus driver's callbacks, which the queues signal.
    callbacks: Arc<Callbacks>,
}

/// How a simulated device is created.
pub(crate) struct SimConfig<D: DeviceType> {
    /// The features offered (a subset of the type's).
    pub(crate) features: u64,
    /// The largest number of IOTLB entries per address space.
    pub(crate) max_iotlb_entries: u32,
    /// The workqueue the device's worker runs on.
    pub(crate) queue: Arc<OwnedQueue>,
    /// The device type's initial state.
    pub(crate) state: D::State,
}

impl<D: DeviceType> Sim<D> {
    /// Creates the device data.
    pub(crate) fn new(cfg: SimConfig<D>) -> Result<Self> {
        const { assert!(D::CONFIG_SIZE <= MAX_CONFIG) };
        let mut vqs = KVec::with_capacity(D::NVQS as usize, GFP_KERNEL)?;
        let mut spaces = KVec::with_capacity(D::NAS as usize, GFP_KERNEL)?;
        let mut default_map = KVec::with_capacity(D::NAS as usize, GFP_KERNEL)?;
        for _ in 0..D::NAS {
            // Empty: no bus driver drives the device yet (see `default_map`).
            spaces.push(AddressSpace::new(cfg.max_iotlb_entries)?, GFP_KERNEL)?;
            default_map.push(true, GFP_KERNEL)?;
        }
        let callbacks = Callbacks::new(D::NVQS)?;
        for idx in 0..D::NVQS {
            let mut vq = Vq::new(idx, callbacks.clone());
            vq.ring.set_address_space(spaces[0].clone());
            vqs.push(vq, GFP_KERNEL)?;
        }
        let mut group_asid = KVec::with_capacity(D::NGROUPS as usize, GFP_KERNEL)?;
        for _ in 0..D::NGROUPS {
            group_asid.push(0, GFP_KERNEL)?;
        }
        let core = Core::<D> {
            vqs,
            features: 0,
            supported: cfg.features,
            status: 0,
            suspended: false,
            pending_kick: false,
            removed: false,
            generation: 0,
            group_asid,
            default_map,
            dev: cfg.state,
        };
        let shared = Arc::pin_init(
            pin_init!(Shared::<D> {
                core <- new_mutex!(core, "Sim::core"),
                spaces,
                queue: cfg.queue,
                work <- new_work!("Sim::work"),
            }),
            GFP_KERNEL,
        )?;
        Ok(Sim { shared, callbacks })
    }

    /// Stops the device for good: no worker run touches it afterwards.
    pub(crate) fn remove(&self) {
        let mut core = self.shared.core.lock();
        core.removed = true;
        for vq in core.vqs.iter_mut() {
            vq.reset();
        }
    }

    /// Puts the default mappings of the address space `asid` back, for the
    /// bus driver `bus`.
    ///
    /// For `virtio_vdpa` that is physical memory one to one: the kernel's
    /// virtio drivers give the device addresses of the DMA API of a device
    /// without IOMMU. For any other bus driver (`vhost_vdpa`, whose user
    /// gives the device its mappings explicitly) and for none it is nothing:
    /// a user of `/dev/vhost-vdpa-N` must reach only the memory it mapped.
    fn default_map(&self, core: &mut Core<D>, asid: usize, bus: BusDriver) -> Result {
        let mut tlb = self.shared.spaces[asid].lock();
        tlb.reset();
        // Marked default even if the identity cannot be added: then the
        // space is empty, which is safe, and the next reset tries again.
        core.default_map[asid] = true;
        if bus == BusDriver::Virtio {
            tlb.add_range(0, u64::MAX, 0, Perm::RW)?;
        }
        Ok(())
    }

    fn do_reset(&self, flags: u32, bus: BusDriver) {
        let mut core = self.shared.core.lock();
        // Every group goes back to address space 0.
        for vq in core.vqs.iter_mut() {
            vq.reset();
            vq.ring.set_address_space(self.shared.spaces[0].clone());
        }
        for asid in core.group_asid.iter_mut() {
            *asid = 0;
        }
        // An address space with its defaults gets those of the bus driver
        // asking now (the last one may have been another); one with the
        // driver's own mappings keeps them unless they are to be cleaned.
        for asid in 0..self.shared.spaces.len() {
            if flags & vdpa::RESET_F_CLEAN_MAP != 0 || core.default_map[asid] {
                let _ = self.default_map(&mut core, asid, bus);
            }
        }
        core.features = 0;
        core.status = 0;
        core.suspended = false;
        core.pending_kick = false;
        core.generation = core.generation.wrapping_add(1);
    }

    fn space(&self, asid: u32) -> Result<&Arc<AddressSpace>> {
        self.shared.spaces.get(asid as usize).ok_or(EINVAL)
    }

    /// Drops the default mappings of an address space before the first
    /// explicit mapping.
    fn leave_default_map(&self, core: &mut Core<D>, asid: u32) {
        if let Some(default) = core.default_map.get_mut(asid as usize) {
            if *default {
                self.shared.spaces[asid as usize].lock().reset();
                *default = false;
            }
        }
    }
}

#[vtable]
impl<D: DeviceType> vdpa::ConfigOps for Sim<D> {
    fn set_vq_address(
        dev: &vdpa::Device<Self>,
        idx: u16,
        desc: u64,
        driver: u64,
        device: u64,
    ) -> Result {
        let mut core = dev.shared.core.lock();
        let vq = &mut core.vqs[idx as usize];
        vq.desc = desc;
        vq.driver = driver;
        vq.device = device;
        Ok(())
    }

    fn set_vq_num(dev: &vdpa::Device<Self>, idx: u16, num: u32) {
        dev.shared.core.lock().vqs[idx as usize].num = num;
    }

    fn get_vq_size(dev: &vdpa::Device<Self>, idx: u16) -> u16 {
        let core = dev.shared.core.lock();
        if core.status & status::DRIVER_OK != 0 {
            core.vqs[idx as usize].num as u16
        } else {
            QUEUE_MAX
        }
    }

    fn kick_vq(dev: &vdpa::Device<Self>, _idx: u16) {
        dev.shared.schedule();
    }

    fn set_vq_ready(dev: &vdpa::Device<Self>, idx: u16, ready: bool) {
        let mut guard = dev.shared.core.lock();
        let core = &mut *guard;
        let features = core.features;
        let vq = &mut core.vqs[idx as usize];
        if !ready {
            vq.ready = false;
            return;
        }
        if vq.ready {
            return;
        }
        // Keep the restored index across the ring setup; the used index
        // starts where the available one is (no buffer in flight).
        let avail = vq.ring.last_avail_idx();
        match vq
            .ring
            .init(features, vq.num, vq.desc, vq.driver, vq.device)
        {
            Ok(()) => {
                vq.ring.set_last_avail_idx(avail);
                vq.ring.set_last_used_idx(avail);
                vq.ready = true;
            }
            Err(_) => {
                // The driver (a guest, through vhost-vdpa) does this at will.
                pr_warn_ratelimited!("queue {} not enabled: bad size {}\n", idx, vq.num);
            }
        }
    }

    fn get_vq_ready(dev: &vdpa::Device<Self>, idx: u16) -> bool {
        dev.shared.core.lock().vqs[idx as usize].ready
    }

    fn set_vq_state(dev: &vdpa::Device<Self>, idx: u16, state: &VqState) -> Result {
        let mut core = dev.shared.core.lock();
        let vq = &mut core.vqs[idx as usize];
        vq.ring.set_last_avail_idx(state.avail_index);
        vq.ring.set_last_used_idx(state.avail_index);
        Ok(())
    }

    fn get_vq_state(dev: &vdpa::Device<Self>, idx: u16) -> Result<VqState> {
        let core = dev.shared.core.lock();
        Ok(VqState {
            avail_index: core.vqs[idx as usize].ring.last_avail_idx(),
        })
    }

    fn get_vendor_vq_stats(
        dev: &vdpa::Device<Self>,
        idx: u16,
        stats: &mut VendorStats<'_>,
    ) -> Result {
        let core = dev.shared.core.lock();
        D::stats(&core.dev, idx, stats)
    }

    fn get_vq_align(_dev: &vdpa::Device<Self>) -> u32 {
        QUEUE_ALIGN
    }

    fn get_vq_group(_dev: &vdpa::Device<Self>, idx: u16) -> u32 {
        D::vq_group(idx)
    }

    fn get_device_features(dev: &vdpa::Device<Self>) -> u64 {
        dev.shared.core.lock().supported
    }

    fn get_backend_features(_dev: &vdpa::Device<Self>) -> u64 {
        backend::ENABLE_AFTER_DRIVER_OK
    }

    fn set_driver_features(dev: &vdpa::Device<Self>, features: u64) -> Result {
        // Buffers are reached through the IOTLB: the driver must map them.
        if features & features::ACCESS_PLATFORM == 0 {
            return Err(EINVAL);
        }
        let mut core = dev.shared.core.lock();
        core.features = features & core.supported;
        Ok(())
    }

    fn get_driver_features(dev: &vdpa::Device<Self>) -> u64 {
        dev.shared.core.lock().features
    }

    fn get_vq_num_max(_dev: &vdpa::Device<Self>) -> u16 {
        QUEUE_MAX
    }

    fn get_device_id(_dev: &vdpa::Device<Self>) -> u32 {
        D::DEVICE_ID
    }

    fn get_vendor_id(_dev: &vdpa::Device<Self>) -> u32 {
        0
    }

    fn get_status(dev: &vdpa::Device<Self>) -> u8 {
        dev.shared.core.lock().status
    }

    fn set_status(dev: &vdpa::Device<Self>, status: u8) {
        let kick = {
            let mut core = dev.shared.core.lock();
            let was_ok = core.status & status::DRIVER_OK != 0;
            core.status = status;
            !was_ok && core.running()
        };
        if kick {
            // Buffers made available before DRIVER_OK are handled now.
            dev.shared.schedule();
        }
    }

    fn reset(dev: &vdpa::Device<Self>) -> Result {
        dev.do_reset(0, dev.bus_driver());
        Ok(())
    }

    fn compat_reset(dev: &vdpa::Device<Self>, flags: u32) -> Result {
        dev.do_reset(flags, dev.bus_driver());
        Ok(())
    }

    fn suspend(dev: &vdpa::Device<Self>) -> Result {
        // Taking the lock waits for a worker run in progress.
        dev.shared.core.lock().suspended = true;
        Ok(())
    }

    fn resume(dev: &vdpa::Device<Self>) -> Result {
        let kick = {
            let mut core = dev.shared.core.lock();
            core.suspended = false;
            core::mem::take(&mut core.pending_kick) || core.running()
        };
        if kick {
            dev.shared.schedule();
        }
        Ok(())
    }

    fn get_config_size(_dev: &vdpa::Device<Self>) -> usize {
        D::CONFIG_SIZE
    }

    fn get_config(dev: &vdpa::Device<Self>, offset: usize, buf: &mut [u8]) {
        let mut config = [0u8; MAX_CONFIG];
        let core = dev.shared.core.lock();
        D::read_config(&core.dev, core.features, &mut config[..D::CONFIG_SIZE]);
        buf.copy_from_slice(&config[offset..offset + buf.len()]);
    }

    fn set_config(dev: &vdpa::Device<Self>, offset: usize, buf: &[u8]) {
        let mut config = [0u8; MAX_CONFIG];
        let mut guard = dev.shared.core.lock();
        let core = &mut *guard;
        D::read_config(&core.dev, core.features, &mut config[..D::CONFIG_SIZE]);
        config[offset..offset + buf.len()].copy_from_slice(buf);
        D::write_config(&mut core.dev, &config[..D::CONFIG_SIZE]);
    }

    fn get_generation(dev: &vdpa::Device<Self>) -> u32 {
        dev.shared.core.lock().generation
    }

    fn get_iova_range(_dev: &vdpa::Device<Self>) -> IovaRange {
        IovaRange {
            first: 0,
            last: u64::MAX,
        }
    }

    fn set_group_asid(dev: &vdpa::Device<Self>, group: u32, asid: u32) -> Result {
        let space = dev.space(asid)?.clone();
        let mut core = dev.shared.core.lock();
        *core.group_asid.get_mut(group as usize).ok_or(EINVAL)? = asid;
        for (i, vq) in core.vqs.iter_mut().enumerate() {
            if D::vq_group(i as u16) == group {
                vq.ring.set_address_space(space.clone());
            }
        }
        Ok(())
    }

    fn set_map(dev: &vdpa::Device<Self>, asid: u32, iotlb: &Iotlb) -> Result {
        let space = dev.space(asid)?;
        let mut core = dev.shared.core.lock();
        core.default_map[asid as usize] = false;
        space.lock().copy_from(iotlb)
    }

    fn dma_map(
        dev: &vdpa::Device<Self>,
        asid: u32,
        iova: u64,
        size: u64,
        pa: u64,
        perm: u32,
    ) -> Result {
        let space = dev.space(asid)?;
        let perm = Perm::from_raw(perm).ok_or(EINVAL)?;
        let mut core = dev.shared.core.lock();
        dev.leave_default_map(&mut core, asid);
        space.lock().add_range(iova, iova + (size - 1), pa, perm)
    }

    fn dma_unmap(dev: &vdpa::Device<Self>, asid: u32, iova: u64, size: u64) -> Result {
        let space = dev.space(asid)?;
        let mut core = dev.shared.core.lock();
        dev.leave_default_map(&mut core, asid);
        space.lock().del_range(iova, iova + (size - 1));
        Ok(())
    }

    fn reset_map(dev: &vdpa::Device<Self>, asid: u32) -> Result {
        dev.space(asid)?;
        let mut core = dev.shared.core.lock();
        // Only `vhost_vdpa` calls this, when it drops an address space: its
        // default is nothing.
        dev.default_map(&mut core, asid as usize, dev.bus_driver())
    }
}

/// What the management devices share: the module's settings.
pub(crate) struct MgmtCommon {
    /// The workqueue the workers run on.
    pub(crate) queue: Arc<OwnedQueue>,
    /// The largest number of IOTLB entries per address space.
    pub(crate) max_iotlb_entries: u32,
    /// How devices take their mappings.
    pub(crate) dma: vdpa::DmaModel,
}

impl MgmtCommon {
    /// Creates a device of type `D` named `name` that offers `features`
    /// (which must be among `supported`).
    pub(crate) fn create<D: DeviceType>(
        &self,
        parent: &kernel::device::Device,
        name: &CStr,
        features: Option<u64>,
        supported: u64,
        state: D::State,
    ) -> Result<vdpa::UnregisteredDevice<Sim<D>>> {
        let features = features.unwrap_or(supported);
        if features & !supported != 0 {
            return Err(EINVAL);
        }
        // The device reaches memory through its IOTLB only, and
        // `set_driver_features` refuses a driver without this feature: a
        // device that does not offer it could never be driven.
        if features & features::ACCESS_PLATFORM == 0 {
            pr_warn_ratelimited!(
                "{}: device_features {:#x} lack VIRTIO_F_ACCESS_PLATFORM (bit 33), which the simulator needs\n",
                name,
                features
            );
            return Err(EINVAL);
        }
        let data = Sim::new(SimConfig {
            features,
            max_iotlb_entries: self.max_iotlb_entries,
            queue: self.queue.clone(),
            state,
        })?;
        let callbacks = data.callbacks.clone();
        vdpa::UnregisteredDevice::new(
            Some(parent),
            Some(name),
            vdpa::Options {
                nvqs: u32::from(D::NVQS),
                ngroups: D::NGROUPS,
                nas: D::NAS,
                dma: self.dma,
                self_dma: true,
            },
            callbacks,
            Ok::<_, Error>(data),
        )
    }
}

/// Creates the per-module workqueue the simulated devices' workers run on.
///
/// It has a rescuer (`WQ_MEM_RECLAIM`): a block device's requests may be
/// what memory reclaim waits for, so its worker must run even when no new
/// worker thread can be created for want of memory.
pub(crate) fn new_queue() -> Result<Arc<OwnedQueue>> {
    Ok(Arc::new(
        OwnedQueue::new(
            c"vdpa_rsim",
            workqueue::flags::UNBOUND | workqueue::flags::MEM_RECLAIM,
            0,
        )?,
        GFP_KERNEL,
    )?)
}
