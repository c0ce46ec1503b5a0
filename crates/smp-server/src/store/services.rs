//! Service clients in the queue store (SMP v16; the reference's `services` and
//! `serviceCerts` in `QueueStore/STM.hs`): one record per service certificate, and the
//! queues associated with each service, by recipient ID (`rsrv=`) and by notifier ID
//! (`nsrv=`), so that `NSUBS` counts them without a scan.

use std::collections::{HashMap, HashSet};

use super::{EntityId, QueueStore, StoreError};
use crate::store_log::{ServiceParty, ServiceRecord, StoreLogRecord};

/// The services and their queues.
#[derive(Debug, Default)]
pub(super) struct Services {
    records: HashMap<EntityId, ServiceRecord>,
    by_cert: HashMap<Vec<u8>, EntityId>,
    rcv_queues: HashMap<EntityId, HashSet<EntityId>>,
    ntf_queues: HashMap<EntityId, HashSet<EntityId>>,
}

impl Services {
    fn queues(&mut self, party: ServiceParty) -> &mut HashMap<EntityId, HashSet<EntityId>> {
        match party {
            ServiceParty::Recipient => &mut self.rcv_queues,
            ServiceParty::Notifier => &mut self.ntf_queues,
        }
    }

    /// Notes that the queue (by recipient or notifier ID) is associated with the service.
    pub(super) fn add_queue(&mut self, party: ServiceParty, sid: &[u8], qid: &[u8]) {
        if self.records.contains_key(sid) {
            self.queues(party)
                .entry(sid.to_vec())
                .or_default()
                .insert(qid.to_vec());
        }
    }

    /// Notes that the queue is no longer associated with the service.
    pub(super) fn remove_queue(&mut self, party: ServiceParty, sid: &[u8], qid: &[u8]) {
        if let Some(set) = self.queues(party).get_mut(sid) {
            set.remove(qid);
        }
    }

    fn insert(&mut self, sr: ServiceRecord) -> Result<(), StoreError> {
        if self.records.contains_key(&sr.service_id) {
            return Err(StoreError::Duplicate);
        }
        self.by_cert
            .insert(sr.cert_hash.clone(), sr.service_id.clone());
        self.records.insert(sr.service_id.clone(), sr);
        Ok(())
    }
}

impl QueueStore {
    /// The service records.
    pub fn services(&self) -> impl Iterator<Item = &ServiceRecord> + '_ {
        self.services.records.values()
    }

    /// The service of this certificate hash, or `new` made (logged as `NEW_SERVICE`), as the
    /// reference's `getCreateService`: a known certificate in another role is refused
    /// ([`StoreError::ServiceRole`]).
    pub fn get_or_create_service(&mut self, new: ServiceRecord) -> Result<EntityId, StoreError> {
        if let Some(sid) = self.services.by_cert.get(&new.cert_hash) {
            return match self.services.records.get(sid) {
                Some(sr) if sr.role == new.role => Ok(sid.clone()),
                _ => Err(StoreError::ServiceRole),
            };
        }
        if self.services.records.contains_key(&new.service_id) || self.id_in_use(&new.service_id) {
            return Err(StoreError::Duplicate);
        }
        let sid = new.service_id.clone();
        self.services.insert(new.clone())?;
        if let Err(e) = self.write(&StoreLogRecord::NewService(new.clone())) {
            self.services.records.remove(&sid);
            self.services.by_cert.remove(&new.cert_hash);
            return Err(e);
        }
        Ok(sid)
    }

    /// Associates the queue's recipient or notifier with a service, or with none (logged as
    /// `QUEUE_SERVICE`, only when it changes). A queue without a notifier cannot have a
    /// notifier service ([`StoreError::NotFound`]).
    pub fn set_queue_service(
        &mut self,
        rid: &[u8],
        party: ServiceParty,
        sid: Option<EntityId>,
    ) -> Result<(), StoreError> {
        let changed = self.assign_service(rid, party, sid.clone())?;
        if changed {
            self.write(&StoreLogRecord::QueueService(rid.to_vec(), party, sid))?;
        }
        Ok(())
    }

    /// Sets the association in the record and the service's set; true when it changed.
    pub(super) fn assign_service(
        &mut self,
        rid: &[u8],
        party: ServiceParty,
        sid: Option<EntityId>,
    ) -> Result<bool, StoreError> {
        let q = self.get_mut(rid)?;
        let (qid, prev) = match party {
            ServiceParty::Recipient => {
                let prev = q.edit_extra(|e| std::mem::replace(&mut e.rcv_service, sid.clone()));
                (rid.to_vec(), prev)
            }
            ServiceParty::Notifier => q.edit_extra(|e| match &mut e.notifier {
                Some(n) => Ok((
                    n.notifier_id.clone(),
                    std::mem::replace(&mut n.ntf_service, sid.clone()),
                )),
                None => Err(StoreError::NotFound),
            })?,
        };
        if prev == sid {
            return Ok(false);
        }
        if let Some(p) = &prev {
            self.services.remove_queue(party, p, &qid);
        }
        if let Some(s) = &sid {
            self.services.add_queue(party, s, &qid);
        }
        Ok(true)
    }

    /// The number of queues associated with the service as `party`; `None` for an unknown
    /// service.
    pub fn service_queue_count(&self, sid: &[u8], party: ServiceParty) -> Option<usize> {
        self.services.records.get(sid)?;
        let map = match party {
            ServiceParty::Recipient => &self.services.rcv_queues,
            ServiceParty::Notifier => &self.services.ntf_queues,
        };
        Some(map.get(sid).map_or(0, HashSet::len))
    }

    /// The queues (recipient or notifier IDs) associated with the service as `party`;
    /// `None` for an unknown service.
    pub fn service_queues(&self, sid: &[u8], party: ServiceParty) -> Option<Vec<EntityId>> {
        self.services.records.get(sid)?;
        let map = match party {
            ServiceParty::Recipient => &self.services.rcv_queues,
            ServiceParty::Notifier => &self.services.ntf_queues,
        };
        Some(
            map.get(sid)
                .map_or_else(Vec::new, |s| s.iter().cloned().collect()),
        )
    }

    /// The control port's service counts (the reference's `EntityCounts`): messaging
    /// services, notifier services, and the queues associated with each kind.
    pub fn service_entity_counts(&self) -> [i64; 4] {
        use smp_proto::ServiceRole;
        let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
        let count = |role| {
            self.services
                .records
                .values()
                .filter(|s| s.role == role)
                .count()
        };
        let queues =
            |map: &HashMap<EntityId, HashSet<EntityId>>| map.values().map(HashSet::len).sum();
        [
            n(count(ServiceRole::Messaging)),
            n(count(ServiceRole::Notifier)),
            n(queues(&self.services.rcv_queues)),
            n(queues(&self.services.ntf_queues)),
        ]
    }

    /// Replays a `NEW_SERVICE` record.
    pub(super) fn apply_new_service(&mut self, sr: ServiceRecord) -> Result<(), StoreError> {
        self.services.insert(sr)
    }
}
