// SPDX-License-Identifier: GPL-2.0

//! A minimal vDPA parent: a virtio-net device that swallows every frame it is
//! sent and receives none. `vdpa dev add name sink0 mgmtdev
//! faux/rust_vdpa_sink`, then bind it to `virtio_vdpa` (it has no map ops for
//! `vhost_vdpa`): the netdev's counters show the frames the device used.

use kernel::{
    faux,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    vdpa::{
        self,
        Device, //
    },
    vhost::{
        iotlb,
        vringh, //
    },
    virtio,
    workqueue::{
        self,
        DrainAfter,
        OwnedQueue,
        Work,
        WorkItem, //
    },
};

module! {
    type: SinkModule,
    name: "rust_vdpa_sink",
    authors: ["rvdpa developers"],
    description: "Minimal Rust vDPA parent: a frame sink",
    license: "GPL",
}

const FEATURES: u64 = virtio::features::VERSION_1 | virtio::features::ACCESS_PLATFORM;
const NVQS: u16 = 2; // Receive (never used) and transmit.
const TXQ: u16 = 1;

#[derive(Default)]
struct Queue {
    ring: vringh::Vring,
    addr: (u64, u64, u64),
    num: u32,
}

#[derive(Default)]
struct State {
    queues: [Queue; NVQS as usize],
    features: u64,
    status: u8,
}

/// The device. Kicks come from any context, but vringh takes the address
/// space's lock, which is not interrupt-safe: a work item takes the frames.
#[pin_data]
struct Sink {
    #[pin]
    state: Mutex<State>,
    #[pin]
    work: Work<Sink>,
    wq: Arc<OwnedQueue>,
    callbacks: Arc<vdpa::Callbacks>,
}

kernel::impl_has_work! { impl HasWork<Sink> for Sink { self.work } }

impl WorkItem for Sink {
    type Pointer = Arc<Sink>;

    /// Takes every frame sent and gives its buffers back unread, then
    /// signals the driver.
    fn run(this: Arc<Sink>) {
        let (mut riov, mut wiov) = (vringh::Kiov::new(), vringh::Kiov::new());
        this.queue(TXQ, |q, _| {
            while let Ok(Some(head)) = q.ring.getdesc(&mut riov, &mut wiov, GFP_KERNEL) {
                let _ = q.ring.complete(head, 0);
            }
        });
        this.callbacks.signal_vq(TXQ);
    }
}

/// The device data: the sink, shared with its work item.
struct SinkDev(Arc<Sink>);

impl Sink {
    fn queue<R>(&self, idx: u16, f: impl FnOnce(&mut Queue, u64) -> R) -> R {
        let mut st = self.state.lock();
        let features = st.features;
        f(&mut st.queues[usize::from(idx)], features)
    }
}

#[vtable]
impl vdpa::ConfigOps for SinkDev {
    fn set_vq_address(dev: &Device<Self>, idx: u16, d: u64, a: u64, u: u64) -> Result {
        dev.0.queue(idx, |q, _| q.addr = (d, a, u));
        Ok(())
    }
    fn set_vq_num(dev: &Device<Self>, idx: u16, num: u32) {
        dev.0.queue(idx, |q, _| q.num = num);
    }

    /// Only the transmit queue ever has work (an already queued run takes
    /// the new frames too).
    fn kick_vq(dev: &Device<Self>, _idx: u16) {
        let _ = dev.0.wq.enqueue(dev.0.clone());
    }

    fn set_vq_ready(dev: &Device<Self>, idx: u16, ready: bool) {
        dev.0.queue(idx, |q, features| {
            let (d, a, u) = q.addr;
            // A ring that fails to set up stays stopped: not ready.
            if !ready || q.ring.init(features, q.num, d, a, u).is_err() {
                q.ring.stop();
            }
        });
    }
    fn get_vq_ready(dev: &Device<Self>, idx: u16) -> bool {
        dev.0.queue(idx, |q, _| q.ring.is_ready())
    }

    fn set_vq_state(dev: &Device<Self>, idx: u16, s: &vdpa::VqState) -> Result {
        dev.0
            .queue(idx, |q, _| q.ring.set_last_avail_idx(s.avail_index));
        Ok(())
    }
    fn get_vq_state(dev: &Device<Self>, idx: u16) -> Result<vdpa::VqState> {
        let avail_index = dev.0.queue(idx, |q, _| q.ring.last_avail_idx());
        Ok(vdpa::VqState { avail_index })
    }

    fn get_device_features(_dev: &Device<Self>) -> u64 {
        FEATURES
    }
    fn set_driver_features(dev: &Device<Self>, features: u64) -> Result {
        dev.0.state.lock().features = features & FEATURES;
        Ok(())
    }
    fn get_driver_features(dev: &Device<Self>) -> u64 {
        dev.0.state.lock().features
    }

    fn get_vq_num_max(_dev: &Device<Self>) -> u16 {
        256
    }
    fn get_device_id(_dev: &Device<Self>) -> u32 {
        virtio::id::NET
    }

    fn get_status(dev: &Device<Self>) -> u8 {
        dev.0.state.lock().status
    }
    fn set_status(dev: &Device<Self>, status: u8) {
        dev.0.state.lock().status = status;
    }

    fn reset(dev: &Device<Self>) -> Result {
        let mut st = dev.0.state.lock();
        st.queues.iter_mut().for_each(|q| q.ring.stop());
        (st.features, st.status) = (0, 0);
        Ok(())
    }

    fn get_config_size(_dev: &Device<Self>) -> usize {
        0
    }
    fn get_config(_dev: &Device<Self>, _offset: usize, _buf: &mut [u8]) {}
}

/// The management device's driver data: the queue of the sinks' work.
struct SinkMgmt(Arc<OwnedQueue>);

#[vtable]
impl vdpa::MgmtDriver for SinkMgmt {
    type Device = SinkDev;

    fn dev_add(
        m: &vdpa::MgmtRegistration<Self>,
        name: &CStr,
        _: &vdpa::DevSetConfig,
    ) -> Result<vdpa::UnregisteredDevice<SinkDev>> {
        // The device sees physical memory: it has no map ops.
        let space = iotlb::AddressSpace::new(2)?;
        space.lock().add_range(0, u64::MAX, 0, iotlb::Perm::RW)?;
        let mut state = State::default();
        for q in &mut state.queues {
            q.ring.set_address_space(space.clone());
        }
        let opts = vdpa::Options {
            nvqs: NVQS.into(),
            ngroups: 1,
            nas: 1,
            dma: vdpa::DmaModel::Platform,
            self_dma: true,
        };
        let callbacks = vdpa::Callbacks::new(NVQS)?;
        let signal = callbacks.clone();
        let sink = Arc::pin_init(
            pin_init!(Sink {
                state <- kernel::new_mutex!(state),
                work <- kernel::new_work!("Sink::work"),
                wq: m.0.clone(),
                callbacks: signal,
            }),
            GFP_KERNEL,
        )?;
        let sink = Ok::<_, Error>(SinkDev(sink));
        vdpa::UnregisteredDevice::new(Some(m.parent()), Some(name), opts, callbacks, sink)
    }
}

const ATTRS: vdpa::MgmtAttrs = vdpa::MgmtAttrs {
    device_id: virtio::id::NET,
    config_attrs: vdpa::ConfigAttrs::NONE,
    supported_features: FEATURES,
    max_supported_vqs: NVQS as u32,
};

#[pin_data]
struct Registrations {
    #[pin]
    mgmt: vdpa::MgmtRegistration<SinkMgmt>,
    parent: faux::Registration,
}

/// The module: dropping it removes the devices, then waits for their work.
struct SinkModule {
    _registrations: DrainAfter<Pin<KBox<Registrations>>>,
}

impl kernel::Module for SinkModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let wq = Arc::new(
            OwnedQueue::new(c"rust_vdpa_sink", workqueue::flags::UNBOUND, 0)?,
            GFP_KERNEL,
        )?;
        let mgmt = SinkMgmt(wq.clone());
        let regs = KBox::pin_init(
            try_pin_init!(Registrations {
                parent: faux::Registration::new(c"rust_vdpa_sink", None)?,
                mgmt <- vdpa::MgmtRegistration::new(parent.as_ref(), ATTRS, Ok::<_, Error>(mgmt)),
            }),
            GFP_KERNEL,
        )?;
        Ok(SinkModule {
            _registrations: DrainAfter::new(wq, regs),
        })
    }
}
