// SPDX-License-Identifier: GPL-2.0

//! A test-only IRQ bypass consumer: it stands where KVM would, so that a
//! test can see which interrupt a vDPA parent offers for a virtqueue's call
//! eventfd, and when that offer is withdrawn.
//!
//! `/dev/rust_irq_bypass_probe`: each open file watches at most one eventfd.
//! - `WATCH` (`_IO('v', 0xb0)`, argument: an eventfd descriptor of the
//!   caller, or -1 to stop watching) registers a consumer on that eventfd.
//! - `STATE` (`_IOR('v', 0xb1, struct { s32 irq; u32 connected, adds,
//!   dels; })`) reads the IRQ of the connected producer (-1 if none) and how
//!   many times producers were connected and disconnected.

use kernel::{
    eventfd::EventFd,
    fs::File,
    ioctl::{
        _IO,
        _IOR, //
    },
    irq_bypass::{
        Consumer,
        ConsumerRegistration, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        Mutex, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

const WATCH: u32 = _IO(b'v' as u32, 0xb0);
const STATE: u32 = _IOR::<[u32; 4]>(b'v' as u32, 0xb1);

module! {
    type: ProbeModule,
    name: "rust_irq_bypass_probe",
    authors: ["rvdpa developers"],
    description: "Test-only IRQ bypass consumer for vDPA parents",
    license: "GPL",
}

/// What the consumer saw.
struct Seen {
    irq: Atomic<i32>,
    adds: Atomic<u32>,
    dels: Atomic<u32>,
}

/// The consumer: records connections in the shared [`Seen`].
struct Watcher(Arc<Seen>);

impl Consumer for Watcher {
    fn add_producer(&self, irq: u32) -> Result {
        self.0.irq.store(irq as i32, Relaxed);
        self.0.adds.fetch_add(1, Relaxed);
        Ok(())
    }

    fn del_producer(&self, _irq: u32) {
        self.0.irq.store(-1, Relaxed);
        self.0.dels.fetch_add(1, Relaxed);
    }
}

/// One open file of the device.
#[pin_data]
struct Probe {
    #[pin]
    watch: Mutex<Option<Pin<KBox<ConsumerRegistration<Watcher>>>>>,
    seen: Arc<Seen>,
}

#[vtable]
impl MiscDevice for Probe {
    type Ptr = Pin<KBox<Self>>;
    const OWNER: &'static ThisModule = &THIS_MODULE;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        let seen = Arc::new(
            Seen {
                irq: Atomic::new(-1),
                adds: Atomic::new(0),
                dels: Atomic::new(0),
            },
            GFP_KERNEL,
        )?;
        KBox::try_pin_init(
            try_pin_init!(Probe {
                watch <- kernel::new_mutex!(None),
                seen,
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&Probe>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            WATCH => {
                let mut watch = me.watch.lock();
                // Stop watching the previous eventfd first.
                *watch = None;
                let fd = arg as i32;
                if fd >= 0 {
                    let reg =
                        ConsumerRegistration::new(EventFd::from_fd(fd)?, Watcher(me.seen.clone()));
                    *watch = Some(KBox::pin_init(reg, GFP_KERNEL)?);
                }
                Ok(0)
            }
            STATE => {
                let s = &me.seen;
                let connected = u32::from(s.irq.load(Relaxed) >= 0);
                let state = [
                    s.irq.load(Relaxed) as u32,
                    connected,
                    s.adds.load(Relaxed),
                    s.dels.load(Relaxed),
                ];
                let mut w = UserSlice::new(UserPtr::from_addr(arg), 16).writer();
                for v in state {
                    w.write(&v)?;
                }
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}

#[pin_data]
struct ProbeModule {
    #[pin]
    misc: MiscDeviceRegistration<Probe>,
}

impl kernel::InPlaceModule for ProbeModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            misc <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"rust_irq_bypass_probe",
            }),
        })
    }
}
