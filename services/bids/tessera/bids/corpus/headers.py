"""Vendor conventions: how Siemens, GE and Philips name and describe each series of a protocol.

Each ``<kind>`` of series (see :data:`KINDS`) gets, per vendor, the SeriesDescription and
ProtocolName operators see, the ImageType values the scanner writes and the sequence fields
(SequenceName, ScanningSequence, SequenceVariant, ScanOptions). Names follow what each vendor's
consoles write in practice (Siemens/CMRR protocol names, GE's exam-wide ProtocolName with
descriptive SeriesDescriptions, Philips' upper-case WIP names).
"""

from __future__ import annotations

from dataclasses import dataclass

VENDORS = ("siemens", "ge", "philips")

SCANNER: dict[str, dict[str, str]] = {
    "siemens": {"Manufacturer": "SIEMENS", "ManufacturerModelName": "Prisma_fit", "SoftwareVersions": "syngo MR E11",
                "InstitutionName": "Riverside Imaging Center", "StationName": "MRC45123"},
    "ge": {"Manufacturer": "GE MEDICAL SYSTEMS", "ManufacturerModelName": "DISCOVERY MR750",
           "SoftwareVersions": "27\\LX\\MR Software release:DV26.0_R01_1725.a",
           "InstitutionName": "Lakeside University Hospital", "StationName": "lakemr3t"},
    "philips": {"Manufacturer": "Philips Medical Systems", "ManufacturerModelName": "Ingenia",
                "SoftwareVersions": "5.4.1\\5.4.1.0", "InstitutionName": "Hillcrest Neuroscience Institute",
                "StationName": "PHILIPS-7QK2N1"},
}


@dataclass(frozen=True)
class Naming:
    """What a vendor writes for one series. ``image_type`` values are joined with backslashes."""

    description: str
    protocol: str
    image_type: tuple[str, ...]
    sequence_name: str
    scanning_sequence: str
    sequence_variant: str
    scan_options: str = ""


# ImageType tails for magnitude/phase, per vendor and sequence family.
def _it(vendor: str, family: str, part: str = "M", original: bool = True) -> tuple[str, ...]:
    head = ("ORIGINAL", "PRIMARY") if original else ("DERIVED", "PRIMARY")
    if vendor == "siemens":
        return (*head, part, "ND", "NORM") if family != "epi" else (*head, part, "ND")
    if vendor == "ge":
        return (*head, "EPI", "NONE") if family == "epi" else (*head, "OTHER")
    fam = {"se": "SE", "ffe": "FFE", "ir": "IR", "epi": "FFE"}[family]
    return (*head, f"{part}_{fam}", part, fam)


def naming(vendor: str, kind: str, *, task: str = "", run: int = 0, direction: str = "", echoes: int = 1) -> Naming:
    """The vendor's naming for one series ``kind`` (see :data:`KINDS`); ``task``/``run``/``direction``
    fill task-specific names (e.g. ``cmrr_mbep2d_bold_nback_run1``)."""
    v = vendor
    r = f"_run{run}" if run else ""
    if kind == "localizer":
        d = {"siemens": "AAHead_Scout_32ch-head-coil", "ge": "3Plane Loc SSFSE", "philips": "Survey_32ch_HeadCoil"}[v]
        return Naming(d, d if v != "ge" else "BRAIN RESEARCH", _it(v, "ffe") if v != "siemens"
                      else ("ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"), "*fl2d1" if v == "siemens" else
                      ("fgre" if v == "ge" else "FFE"), "GR", "SP")
    if kind == "t1w":
        d = {"siemens": "t1_mprage_sag_p2_iso", "ge": "Sag 3D T1 BRAVO", "philips": "T1W_3D_TFE"}[v]
        seq = {"siemens": "*tfl3d1_16ns", "ge": "efgre3d", "philips": "T1TFE"}[v]
        return Naming(d, _proto(v, d), _it(v, "ffe"), seq,
                      "GR\\IR", "SK\\SP\\MP" if v == "siemens" else "SS\\SP", "IR" if v == "siemens" else "FAST_GEMS")
    if kind == "t1w_mpr":
        d = {"siemens": "t1_mprage_sag_p2_iso_MPR_tra", "ge": "Ax Reformat BRAVO", "philips": "T1W_3D_TFE_MPR_tra"}[v]
        it = (("DERIVED", "SECONDARY", "MPR", "NORM", "DIS2D") if v == "siemens"
              else ("DERIVED", "SECONDARY", "REFORMATTED"))
        return Naming(d, _proto(v, d), it, "*tfl3d1_16ns" if v == "siemens" else "", "GR\\IR", "SK\\SP\\MP")
    if kind == "t2w":
        d = {"siemens": "t2_spc_sag_p2_iso", "ge": "Sag CUBE T2", "philips": "T2W_TSE"}[v]
        return Naming(d, _proto(v, d), _it(v, "se"), {"siemens": "*spc_314ns", "ge": "3dfse", "philips": "TSE"}[v],
                      "SE", "SK\\SP\\OSP" if v == "siemens" else "SK")
    if kind == "flair":
        d = {"siemens": "t2_tirm_tra_dark-fluid", "ge": "Ax T2 FLAIR", "philips": "FLAIR_longTR"}[v]
        return Naming(d, _proto(v, d), _it(v, "ir"), {"siemens": "*tir2d1_21", "ge": "fse-ir", "philips": "IR_TSE"}[v],
                      "SE\\IR", "SK\\SP\\MP" if v == "siemens" else "SK\\MP", "IR")
    if kind in ("bold", "sbref"):
        me = "me_" if echoes > 1 else ""
        d = {"siemens": f"cmrr_mbep2d_{me}bold_{task}{r}",
             "ge": f"fMRI {task} {'multi-echo ' if me else ''}{r[1:]}".strip(),
             "philips": f"fMRI_{task}{'_ME' if me else ''}{r}_SENSE"}[v]
        if kind == "sbref":  # only the CMRR sequence writes a single-band reference series
            return Naming(d + "_SBRef", d, _it(v, "epi"), "epfid2d1_64", "EP", "SK\\SS", "FS")
        return Naming(d, _proto(v, d), _it(v, "epi") if v != "siemens" else (*_it(v, "epi"), "MB"),
                      {"siemens": "epfid2d1_64", "ge": "epiRT", "philips": "FEEPI"}[v], "EP" if v != "ge" else "EP\\GR",
                      "SK\\SS", "FS" if v == "siemens" else "EPI_GEMS")
    if kind == "dwi":
        d = {"siemens": "ep2d_diff_mddw_6dir_p2", "ge": "DTI 6 dir", "philips": "DTI_6dir_high_iso"}[v]
        return Naming(d, _proto(v, d), (*_it(v, "epi"), "DIFFUSION") if v == "siemens" else _it(v, "epi"),
                      {"siemens": "*ep_b1000", "ge": "epi2", "philips": "DwiSE"}[v], "EP" if v != "ge" else "EP\\SE",
                      "SK\\SP", "PFP\\FS")
    if kind in ("dwi_adc", "dwi_fa"):
        m = "ADC" if kind == "dwi_adc" else "FA"
        base = naming(v, "dwi")
        d = {"siemens": f"{base.description}_{m}", "philips": f"{base.description}_{m}",
             "ge": "Apparent Diffusion Coefficient (mm2/s)" if m == "ADC" else "Fractional Aniso."}[v]
        return Naming(d, base.protocol, ("DERIVED", "PRIMARY", "DIFFUSION", m, "ND", "NORM"), base.sequence_name,
                      base.scanning_sequence, base.sequence_variant)
    if kind == "fmap_epi":
        d = {"siemens": f"SpinEchoFieldMap_{direction}", "ge": f"Ax EPI PEpolar {direction}",
             "philips": f"SE_EPI_fmap_{direction}"}[v]
        return Naming(d, _proto(v, d), _it(v, "epi"), {"siemens": "epse2d1_64", "ge": "epi", "philips": "SEEPI"}[v],
                      "EP" if v != "ge" else "EP\\SE", "SK", "FS")
    if kind in ("fmap_mag", "fmap_phasediff"):
        part = "M" if kind == "fmap_mag" else "P"
        d = {"siemens": "gre_field_mapping", "ge": "B0map", "philips": "B0_map"}[v]
        return Naming(d, _proto(v, d), _it(v, "ffe", part), "*fm2d2r" if v == "siemens" else "fgre", "GR", "SP")
    if kind in ("asl", "m0"):
        d = {"siemens": "tgse_pcasl_PLD1800", "ge": "Ax 3D pCASL", "philips": "pCASL_SENSE"}[v]
        if kind == "m0":
            d = {"siemens": "tgse_pcasl_M0", "ge": "Ax 3D pCASL M0", "philips": "M0_pCASL"}[v]
        return Naming(d, _proto(v, d), _it(v, "se"), "*tgse_3d1_16" if v == "siemens" else "ASL", "GR\\SE", "SK")
    raise ValueError(f"unknown series kind {kind!r}")


def _proto(vendor: str, description: str) -> str:
    # GE writes the exam protocol in ProtocolName (same for every series); Philips prefixes WIP.
    return {"siemens": description, "ge": "BRAIN RESEARCH", "philips": f"WIP {description}"}[vendor]


KINDS = ("localizer", "t1w", "t1w_mpr", "t2w", "flair", "bold", "sbref", "dwi", "dwi_adc", "dwi_fa", "fmap_epi",
         "fmap_mag", "fmap_phasediff", "asl", "m0")
