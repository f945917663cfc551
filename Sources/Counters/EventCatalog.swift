// Counters — EventCatalog: what events this machine knows, for `fusebench list events`
// (libpfm4's detected PMUs and their event names, plus the `perf list` aliases).
import CLibpfm

/// The events libpfm4 can encode on this machine.
public enum EventCatalog {
    /// PMUs libpfm4 detects as present (`pfm_get_pmu_info(...).is_present`) with their event names,
    /// in libpfm's PMU order. Empty when libpfm4 cannot be initialised.
    public static func list() -> [(pmu: String, events: [String])] {
        let outcome = withLibpfm { () -> [(pmu: String, events: [String])] in
            var result: [(pmu: String, events: [String])] = []
            for raw in PFM_PMU_NONE.rawValue..<PFM_PMU_MAX.rawValue {
                var info = pfm_pmu_info_t()
                info.size = MemoryLayout<pfm_pmu_info_t>.size
                guard pfm_get_pmu_info(pfm_pmu_t(rawValue: raw), &info) == PFM_SUCCESS,
                      info.is_present != 0, let namePtr = info.name else { continue }
                var names: [String] = []
                var idx = info.first_event
                while idx != -1 {
                    var einfo = pfm_event_info_t()
                    einfo.size = MemoryLayout<pfm_event_info_t>.size
                    if pfm_get_event_info(idx, PFM_OS_NONE, &einfo) == PFM_SUCCESS, let e = einfo.name {
                        names.append(String(cString: e))
                    }
                    idx = pfm_get_event_next(idx)
                }
                result.append((pmu: String(cString: namePtr), events: names))
            }
            return result
        }
        switch outcome {
        case let .success(list): return list
        case .failure: return []
        }
    }

    /// The `perf list` spellings fusebench accepts besides libpfm's own names, with what each maps to.
    public static func aliases() -> [(name: String, libpfm: String?)] {
        EventAliases.all.map { (name: $0.perfName, libpfm: $0.libpfmName) }
    }
}
