"""The words of :mod:`onemap.labels`: verdicts, text values, units, columns and report sentences
in Chinese (as the campaign says them) and English. Only tables: the lookups are in labels."""

from __future__ import annotations

#: verdict -> (Chinese as the campaign says it, English, colour on maps); flagged ones first
VERDICTS: dict[str, tuple[str, str, str]] = {
    "unapproved": ("违法（未批先建）", "illegal (built before approval)", "#e41a1c"),
    "partly_approved": ("违法（批少占多）", "illegal (built beyond the approval)", "#ff7f00"),
    "check": ("其他（需实地核查）", "other (needs a field check)", "#984ea3"),
    "approved": ("合法（已批准）", "legal (approved)", "#4daf4a"),
    "existing_construction": (
        "合法（原有建设用地）",
        "legal (existing construction land)",
        "#377eb8",
    ),
}

#: column -> {machine value: (Chinese, English)} for the text values people read in CSVs
VALUES: dict[str, dict[str, tuple[str, str]]] = {
    # (``verdict`` keeps its machine value: ``verdict_zh`` beside it gives the campaign's words)
    "prev_verdict": {k: (v[0], v[1]) for k, v in VERDICTS.items()},
    "status": {
        "built": ("已建设", "built"),
        "partly_built": ("部分建设", "partly built"),
        "not_built": ("未建设", "not built"),
    },
}

#: unit key -> (Chinese, English) as written in headers
UNITS = {
    "m2": ("m²", "m²"),
    "mu": ("亩", "mu"),
    "ha": ("公顷", "ha"),
    "pct": ("%", "%"),
    "n": ("个", "count"),
    "px": ("像元", "pixels"),
    "ratio": ("0–1", "0–1"),
    "date": ("年-月-日", "YYYY-MM-DD"),
    "score": ("无量纲", "unitless"),
    "code": ("代码", "code"),
    "bool": ("是/否", "yes/no"),
    "json": ("JSON，m²", "JSON, m²"),
    "text": ("文本", "text"),
}

# column -> (Chinese, English, unit key, Chinese note); *_mu / *_ha follow their *_m2 column
COLUMNS: dict[str, tuple[str, str, str, str]] = {
    "patch_id": ("图斑编号", "patch id", "code", "监测图斑的编号"),
    "pixels": ("像元数", "pixels", "px", "图斑包含的影像像元"),
    "area_m2": ("面积", "area", "m2", "椭球面积（CGCS2000/GRS80）"),
    "score_mean": ("变化强度均值", "mean change score", "score", "无量纲"),
    "score_max": ("变化强度最大值", "max change score", "score", "无量纲"),
    "confidence": ("置信度", "confidence", "ratio", "图斑与未变化背景的区分程度"),
    "date_before": ("前时相日期", "before-image date", "date", "前时相影像的获取日期"),
    "date_after": ("后时相日期", "after-image date", "date", "后时相影像的获取日期"),
    "existing_m2": (
        "原有建设用地面积",
        "existing construction land",
        "m2",
        "土地利用现状已是建设用地的部分（合法）",
    ),
    "new_m2": ("新增建设用地面积", "new construction", "m2", "图斑面积减去原有建设用地"),
    "approved_m2": ("已批准面积", "approved", "m2", "新增建设中位于批文地块内的部分"),
    "unapproved_m2": (
        "违法用地面积",
        "unapproved construction",
        "m2",
        "新增建设中位于所有批文地块之外的部分（未批先建、批少占多）",
    ),
    "new_cultivated_m2": (
        "新增建设占用耕地面积",
        "new construction on cultivated land",
        "m2",
        "耕地：地类编码 0101、0102、0103",
    ),
    "unapproved_cultivated_m2": (
        "违法占用耕地面积",
        "unapproved construction on cultivated land",
        "m2",
        "违法占用耕地比例的分子",
    ),
    "unapproved_agricultural_m2": (
        "违法占用其他农用地面积",
        "unapproved on other agricultural land",
        "m2",
        "耕地以外的农用地",
    ),
    "unapproved_unused_m2": ("违法占用未利用地面积", "unapproved on unused land", "m2", ""),
    "unapproved_unknown_m2": (
        "违法占用未分类地面积",
        "unapproved on unclassified land",
        "m2",
        "土地利用图层未覆盖或地类编码未知",
    ),
    "unapproved_by_code": (
        "违法用地分地类面积",
        "unapproved area by land-use code",
        "json",
        "{地类编码: m²}",
    ),
    "unapproved_farmland_m2": (
        "违法占用永久基本农田面积",
        "unapproved on permanent basic farmland",
        "m2",
        "",
    ),
    "unapproved_redline_m2": (
        "违法占用生态保护红线面积",
        "unapproved inside the ecological red line",
        "m2",
        "",
    ),
    "verdict": (
        "判定代码",
        "verdict code",
        "code",
        "existing_construction / approved / unapproved / partly_approved / check",
    ),
    "verdict_zh": (
        "判定结果",
        "verdict (Chinese)",
        "text",
        "合法 / 违法（未批先建、批少占多）/ 其他",
    ),
    "verdict_name": ("判定结果", "verdict", "text", ""),
    "approval_ids": ("涉及批文地块", "approvals met", "text", "以 ; 分隔"),
    "parcel_ids": ("涉及宗地", "cadastral parcels met", "text", "以 ; 分隔"),
    "admin_code": ("行政区代码", "admin code", "code", "统计用区划代码（乡镇 9 位、村 12 位）"),
    "admin_name": ("行政区名称", "admin name", "text", ""),
    "on_unknown_landuse": (
        "涉及未分类地",
        "on unclassified land",
        "bool",
        "新增建设部分位于土地利用图层未覆盖或地类编码未知的土地上",
    ),
    "n_unknown_landuse": ("涉及未分类地图斑数", "patches on unclassified land", "n", ""),
    "at_frame_edge": ("位于影像边缘", "at image edge", "bool", "面积可能偏小（图斑延伸到影像外）"),
    "n_patches": ("图斑数", "patches", "n", ""),
    "n_flagged": ("违法图斑数", "illegal patches", "n", "未批先建与批少占多"),
    "illegal_ratio": (
        "违法占用耕地比例",
        "illegal occupation ratio of cultivated land",
        "pct",
        "违法占用耕地面积 ÷ 新增建设占用耕地面积",
    ),
    "exceeds_threshold": ("超过阈值", "exceeds threshold", "bool", "比例高于问责阈值（默认 15%）"),
    # year over year (onemap.history, [history] of the survey TOML)
    "history": (
        "历年比对",
        "year over year",
        "text",
        "new 新增 / repeat_unresolved 往年违法未整改 / repeat_resolved 往年违法已整改 / "
        "repeat_not_flagged 往年合法",
    ),
    "prev_matches": (
        "往年同位图斑数",
        "earlier patches at the same place",
        "n",
        "重叠面积不小于两图斑中较小者面积的 30%",
    ),
    "prev_survey": ("往年监测批次", "earlier survey", "text", ""),
    "prev_year": ("往年年度", "earlier year", "code", "0：未知"),
    "prev_patch_id": ("往年图斑编号", "earlier patch id", "code", ""),
    "prev_verdict": ("往年判定代码", "earlier verdict code", "code", ""),
    "prev_decision": ("往年核查结果", "earlier field-check decision", "text", "空：未记录"),
    "prev_overlap": ("重叠比例", "overlap share", "ratio", "重叠面积 ÷ 两图斑中较小者的面积"),
    "n_new_cases": ("新增违法图斑数", "new illegal cases", "n", "往年同一位置无图斑"),
    "n_repeat_unresolved": (
        "往年未整改违法图斑数",
        "repeat cases still unresolved",
        "n",
        "往年已判违法且未整改到位",
    ),
    "n_repeat_other": ("其他往年违法图斑数", "other repeat cases", "n", "往年已整改或往年合法"),
    "new_cases_unapproved_m2": ("新增违法用地面积", "unapproved area of new cases", "m2", ""),
    "repeat_unresolved_unapproved_m2": (
        "往年未整改违法用地面积",
        "unapproved area of unresolved repeats",
        "m2",
        "",
    ),
    "parcel_id": ("地块编号", "parcel id", "code", ""),
    "name": ("地块名称", "parcel name", "text", ""),
    "point_count": ("界址点数", "boundary points", "n", ""),
    "declared_area": ("申报面积", "declared area", "text", "单位见“面积单位”列"),
    "shape_type": ("图形属性", "shape type", "text", ""),
    "sheet": ("图幅号", "map sheet", "code", ""),
    "use": ("用途", "use", "text", ""),
    "landuse_code": ("地类编码", "land-use code", "code", "第三次国土调查工作分类"),
    "plane_area": ("平面面积", "plane area", "m2", "投影平面上的面积"),
    "area_unit": ("面积单位", "area unit", "text", ""),
    "area_check": ("面积核对", "area check", "text", ""),
    "source_file": ("来源文件", "source file", "text", ""),
    "approval_id": ("批文地块编号", "approval id", "code", "批次/地块"),
    "built_m2": ("已建设面积", "built area", "m2", "变化图斑覆盖的批文面积"),
    "built_fraction": ("已建设比例", "built share", "pct", ""),
    "status": ("建设状态", "status", "text", "built / partly_built / not_built"),
    "supplied": ("已供地", "supplied", "bool", ""),
    "chain": ("批供用状态", "approve-supply-use", "text", "批而未供、供而未用、已供已用、已批已用"),
}
DERIVED = {"mu": ("亩", "mu"), "ha": ("公顷", "ha")}

TEXT = {  # report sentences and labels: key -> (Chinese, English)
    "total": ("合计", "total"),
    "county": ("全域", "whole area"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "survey": ("变化监测报告", "change survey"),
    "ratio_title": ("违法占用耕地比例", "Illegal occupation of cultivated land"),
    "ratio_na": ("无（新增建设未占用耕地）", "n/a (no new construction on cultivated land)"),
    "exceeds": ("超过", "exceeds"),
    "within": ("未超过", "is within"),
    "ratio_note": (
        "阈值 {t}：本区域<b>{s}</b>阈值。比例 = 违法占用耕地面积 ÷ 新增建设占用耕地面积"
        "（椭球面积）。",
        "Threshold {t}: the area <b>{s}</b> the threshold. Ratio = "
        "unapproved new construction on cultivated land ÷ all new construction on "
        "cultivated land (ellipsoidal areas).",
    ),
    "images": ("影像", "Imagery"),
    "before": ("前时相", "before"),
    "after": ("后时相", "after"),
    "date_unknown": ("日期未知", "date unknown"),
    "source": ("来源", "source"),
    "frame": ("工作底图", "Frame"),
    "summary": ("分行政区统计", "By admin unit"),
    "verdicts": ("判定结果统计", "Verdicts"),
    "map": ("地图", "Map"),
    "static_map": ("总图（打印用）", "Overview (for printing)"),
    "map_note": (
        "底图为后时相影像，图斑按判定结果着色；点击图斑查看判定与占地面积，右下角切换图层。",
        "The after-image with change patches coloured by verdict; click a patch for its "
        "verdict and land taken, toggle layers at the bottom right.",
    ),
    "flagged": ("违法图斑", "Illegal patches"),
    "run": ("运行信息", "Run"),
    "dictionary": ("数据字典", "Data dictionary"),
    "coverage": ("图层覆盖", "Layer coverage"),
    "image_layer": ("后时相影像", "after-image"),
    "approvals": ("批文地块", "approvals"),
    "landuse": ("土地利用现状", "land use"),
    # the other survey layers, as named in the coverage table
    "supply": ("供地", "land supply"),
    "farmland": ("永久基本农田", "permanent basic farmland"),
    "redline": ("生态保护红线", "ecological red line"),
    "cadastral": ("宗地", "cadastral parcels"),
    "admin": ("行政区", "admin units"),
    "patch": ("图斑", "patch"),
    "of_unit": ("单位", "unit"),
    "mu_note": ("1 公顷 = 15 亩 = 10 000 m²", "1 ha = 15 mu = 10 000 m²"),
    "areas_in": ("面积单位：亩（1 亩 ≈ 666.67 m²）", "areas in mu (1 mu ≈ 666.67 m²)"),
    "more_chips": (
        "另有 {n} 个图斑未列出（见 verdicts.csv）",
        "{n} more patches not shown (see verdicts.csv)",
    ),
    "chip_caption": (
        "图斑 {id} · {v} · 违法用地 {a} · 其中耕地 {c}",
        "patch {id} · {v} · unapproved {a} · on cultivated land {c}",
    ),
    "chips_note": (
        "每组左为前时相、右为后时相，红线为图斑边界；按违法用地面积从大到小排列。",
        "Before (left) and after (right), the patch outlined in red; largest "
        "unapproved area first.",
    ),
    "method": ("检测方法", "method"),
    "threshold": ("变化阈值", "change threshold"),
    "patches": ("图斑数", "patches"),
    "unknown_landuse_patches": ("涉及未分类地图斑数", "patches on unclassified land"),
    "resolution": ("分辨率", "resolution"),
    "date_source": ("日期来源", "date source"),
    # where an image date came from (the scenes' attrs["date_source"])
    "src_config": ("配置文件", "configuration"),
    "src_filename": ("文件名", "file name"),
    "src_metadata": ("影像元数据", "image metadata"),
    "src_guess": ("推测", "guessed"),
    "src_guessed": ("推测", "guessed"),
    "src_sidecar": ("附带文件", "sidecar file"),
    "src_argument": ("参数", "argument"),
}
