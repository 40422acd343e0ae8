// The replica's migrations as they shipped: the SQL each one ran, frozen, so that what an old
// migration does never changes with today's code (GRDB's advice: migrations do not depend on
// application types). v1 to v7 are the statements the 1.0.0 and 1.1.0 programs executed (their
// reference data, their capture triggers, their table rebuilds), recorded statement by statement.
// A new migration is appended as literal SQL; its capture triggers are written out from
// `CaptureTriggers.sql(for:)` once, when it is added (`FrozenMigrationTests` checks that the
// triggers of a migrated replica are those of today's columns). Never edit a shipped entry.
//
// swift-format-ignore-file

enum FrozenMigrations {
    static let replica: [(id: String, sql: String)] = [
        (
            "v1-reference",
            #"""
CREATE TABLE province (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    region TEXT NOT NULL
) STRICT;
CREATE TABLE former_province (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    successor TEXT NOT NULL REFERENCES province(code)
) STRICT;
CREATE TABLE activity_category (
    code TEXT PRIMARY KEY NOT NULL,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    report_group INTEGER NOT NULL,
    basis TEXT NOT NULL
) STRICT;
CREATE TABLE report_group (
    grp INTEGER PRIMARY KEY NOT NULL,
    name_en TEXT NOT NULL,
    name_vi TEXT NOT NULL
) STRICT;
CREATE TABLE office (
    code TEXT PRIMARY KEY NOT NULL,
    province TEXT NOT NULL REFERENCES province(code)
) STRICT;
CREATE TABLE support_cap (
    id TEXT PRIMARY KEY NOT NULL,
    fund_source TEXT NOT NULL,
    category TEXT NOT NULL,
    province TEXT,
    max_percent_of_cost INTEGER,
    max_amount INTEGER
) STRICT;
INSERT INTO province(code, name, kind, region) VALUES ('01', 'Hà Nội', 'thanh_pho', 'north');
INSERT INTO office(code, province) VALUES ('01', '01');
INSERT INTO province(code, name, kind, region) VALUES ('04', 'Cao Bằng', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('04', '04');
INSERT INTO province(code, name, kind, region) VALUES ('08', 'Tuyên Quang', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('08', '08');
INSERT INTO province(code, name, kind, region) VALUES ('11', 'Điện Biên', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('11', '11');
INSERT INTO province(code, name, kind, region) VALUES ('12', 'Lai Châu', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('12', '12');
INSERT INTO province(code, name, kind, region) VALUES ('14', 'Sơn La', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('14', '14');
INSERT INTO province(code, name, kind, region) VALUES ('15', 'Lào Cai', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('15', '15');
INSERT INTO province(code, name, kind, region) VALUES ('19', 'Thái Nguyên', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('19', '19');
INSERT INTO province(code, name, kind, region) VALUES ('20', 'Lạng Sơn', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('20', '20');
INSERT INTO province(code, name, kind, region) VALUES ('22', 'Quảng Ninh', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('22', '22');
INSERT INTO province(code, name, kind, region) VALUES ('24', 'Bắc Ninh', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('24', '24');
INSERT INTO province(code, name, kind, region) VALUES ('25', 'Phú Thọ', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('25', '25');
INSERT INTO province(code, name, kind, region) VALUES ('31', 'Hải Phòng', 'thanh_pho', 'north');
INSERT INTO office(code, province) VALUES ('31', '31');
INSERT INTO province(code, name, kind, region) VALUES ('33', 'Hưng Yên', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('33', '33');
INSERT INTO province(code, name, kind, region) VALUES ('37', 'Ninh Bình', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('37', '37');
INSERT INTO province(code, name, kind, region) VALUES ('38', 'Thanh Hóa', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('38', '38');
INSERT INTO province(code, name, kind, region) VALUES ('40', 'Nghệ An', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('40', '40');
INSERT INTO province(code, name, kind, region) VALUES ('42', 'Hà Tĩnh', 'tinh', 'north');
INSERT INTO office(code, province) VALUES ('42', '42');
INSERT INTO province(code, name, kind, region) VALUES ('44', 'Quảng Trị', 'tinh', 'central_highlands');
INSERT INTO office(code, province) VALUES ('44', '44');
INSERT INTO province(code, name, kind, region) VALUES ('46', 'Huế', 'thanh_pho', 'central_highlands');
INSERT INTO office(code, province) VALUES ('46', '46');
INSERT INTO province(code, name, kind, region) VALUES ('48', 'Đà Nẵng', 'thanh_pho', 'central_highlands');
INSERT INTO office(code, province) VALUES ('48', '48');
INSERT INTO province(code, name, kind, region) VALUES ('51', 'Quảng Ngãi', 'tinh', 'central_highlands');
INSERT INTO office(code, province) VALUES ('51', '51');
INSERT INTO province(code, name, kind, region) VALUES ('52', 'Gia Lai', 'tinh', 'central_highlands');
INSERT INTO office(code, province) VALUES ('52', '52');
INSERT INTO province(code, name, kind, region) VALUES ('56', 'Khánh Hòa', 'tinh', 'central_highlands');
INSERT INTO office(code, province) VALUES ('56', '56');
INSERT INTO province(code, name, kind, region) VALUES ('66', 'Đắk Lắk', 'tinh', 'central_highlands');
INSERT INTO office(code, province) VALUES ('66', '66');
INSERT INTO province(code, name, kind, region) VALUES ('68', 'Lâm Đồng', 'tinh', 'central_highlands');
INSERT INTO office(code, province) VALUES ('68', '68');
INSERT INTO province(code, name, kind, region) VALUES ('75', 'Đồng Nai', 'tinh', 'south');
INSERT INTO office(code, province) VALUES ('75', '75');
INSERT INTO province(code, name, kind, region) VALUES ('79', 'Hồ Chí Minh', 'thanh_pho', 'south');
INSERT INTO office(code, province) VALUES ('79', '79');
INSERT INTO province(code, name, kind, region) VALUES ('80', 'Tây Ninh', 'tinh', 'south');
INSERT INTO office(code, province) VALUES ('80', '80');
INSERT INTO province(code, name, kind, region) VALUES ('82', 'Đồng Tháp', 'tinh', 'south');
INSERT INTO office(code, province) VALUES ('82', '82');
INSERT INTO province(code, name, kind, region) VALUES ('86', 'Vĩnh Long', 'tinh', 'south');
INSERT INTO office(code, province) VALUES ('86', '86');
INSERT INTO province(code, name, kind, region) VALUES ('91', 'An Giang', 'tinh', 'south');
INSERT INTO office(code, province) VALUES ('91', '91');
INSERT INTO province(code, name, kind, region) VALUES ('92', 'Cần Thơ', 'thanh_pho', 'south');
INSERT INTO office(code, province) VALUES ('92', '92');
INSERT INTO province(code, name, kind, region) VALUES ('96', 'Cà Mau', 'tinh', 'south');
INSERT INTO office(code, province) VALUES ('96', '96');
INSERT INTO former_province(code, name, successor) VALUES ('01', 'Hà Nội', '01');
INSERT INTO former_province(code, name, successor) VALUES ('02', 'Hà Giang', '08');
INSERT INTO former_province(code, name, successor) VALUES ('04', 'Cao Bằng', '04');
INSERT INTO former_province(code, name, successor) VALUES ('06', 'Bắc Kạn', '19');
INSERT INTO former_province(code, name, successor) VALUES ('08', 'Tuyên Quang', '08');
INSERT INTO former_province(code, name, successor) VALUES ('10', 'Lào Cai', '15');
INSERT INTO former_province(code, name, successor) VALUES ('11', 'Điện Biên', '11');
INSERT INTO former_province(code, name, successor) VALUES ('12', 'Lai Châu', '12');
INSERT INTO former_province(code, name, successor) VALUES ('14', 'Sơn La', '14');
INSERT INTO former_province(code, name, successor) VALUES ('15', 'Yên Bái', '15');
INSERT INTO former_province(code, name, successor) VALUES ('17', 'Hòa Bình', '25');
INSERT INTO former_province(code, name, successor) VALUES ('19', 'Thái Nguyên', '19');
INSERT INTO former_province(code, name, successor) VALUES ('20', 'Lạng Sơn', '20');
INSERT INTO former_province(code, name, successor) VALUES ('22', 'Quảng Ninh', '22');
INSERT INTO former_province(code, name, successor) VALUES ('24', 'Bắc Giang', '24');
INSERT INTO former_province(code, name, successor) VALUES ('25', 'Phú Thọ', '25');
INSERT INTO former_province(code, name, successor) VALUES ('26', 'Vĩnh Phúc', '25');
INSERT INTO former_province(code, name, successor) VALUES ('27', 'Bắc Ninh', '24');
INSERT INTO former_province(code, name, successor) VALUES ('30', 'Hải Dương', '31');
INSERT INTO former_province(code, name, successor) VALUES ('31', 'Hải Phòng', '31');
INSERT INTO former_province(code, name, successor) VALUES ('33', 'Hưng Yên', '33');
INSERT INTO former_province(code, name, successor) VALUES ('34', 'Thái Bình', '33');
INSERT INTO former_province(code, name, successor) VALUES ('35', 'Hà Nam', '37');
INSERT INTO former_province(code, name, successor) VALUES ('36', 'Nam Định', '37');
INSERT INTO former_province(code, name, successor) VALUES ('37', 'Ninh Bình', '37');
INSERT INTO former_province(code, name, successor) VALUES ('38', 'Thanh Hóa', '38');
INSERT INTO former_province(code, name, successor) VALUES ('40', 'Nghệ An', '40');
INSERT INTO former_province(code, name, successor) VALUES ('42', 'Hà Tĩnh', '42');
INSERT INTO former_province(code, name, successor) VALUES ('44', 'Quảng Bình', '44');
INSERT INTO former_province(code, name, successor) VALUES ('45', 'Quảng Trị', '44');
INSERT INTO former_province(code, name, successor) VALUES ('46', 'Thừa Thiên Huế', '46');
INSERT INTO former_province(code, name, successor) VALUES ('48', 'Đà Nẵng', '48');
INSERT INTO former_province(code, name, successor) VALUES ('49', 'Quảng Nam', '48');
INSERT INTO former_province(code, name, successor) VALUES ('51', 'Quảng Ngãi', '51');
INSERT INTO former_province(code, name, successor) VALUES ('52', 'Bình Định', '52');
INSERT INTO former_province(code, name, successor) VALUES ('54', 'Phú Yên', '66');
INSERT INTO former_province(code, name, successor) VALUES ('56', 'Khánh Hòa', '56');
INSERT INTO former_province(code, name, successor) VALUES ('58', 'Ninh Thuận', '56');
INSERT INTO former_province(code, name, successor) VALUES ('60', 'Bình Thuận', '68');
INSERT INTO former_province(code, name, successor) VALUES ('62', 'Kon Tum', '51');
INSERT INTO former_province(code, name, successor) VALUES ('64', 'Gia Lai', '52');
INSERT INTO former_province(code, name, successor) VALUES ('66', 'Đắk Lắk', '66');
INSERT INTO former_province(code, name, successor) VALUES ('67', 'Đắk Nông', '68');
INSERT INTO former_province(code, name, successor) VALUES ('68', 'Lâm Đồng', '68');
INSERT INTO former_province(code, name, successor) VALUES ('70', 'Bình Phước', '75');
INSERT INTO former_province(code, name, successor) VALUES ('72', 'Tây Ninh', '80');
INSERT INTO former_province(code, name, successor) VALUES ('74', 'Bình Dương', '79');
INSERT INTO former_province(code, name, successor) VALUES ('75', 'Đồng Nai', '75');
INSERT INTO former_province(code, name, successor) VALUES ('77', 'Bà Rịa – Vũng Tàu', '79');
INSERT INTO former_province(code, name, successor) VALUES ('79', 'Hồ Chí Minh', '79');
INSERT INTO former_province(code, name, successor) VALUES ('80', 'Long An', '80');
INSERT INTO former_province(code, name, successor) VALUES ('82', 'Tiền Giang', '82');
INSERT INTO former_province(code, name, successor) VALUES ('83', 'Bến Tre', '86');
INSERT INTO former_province(code, name, successor) VALUES ('84', 'Trà Vinh', '86');
INSERT INTO former_province(code, name, successor) VALUES ('86', 'Vĩnh Long', '86');
INSERT INTO former_province(code, name, successor) VALUES ('87', 'Đồng Tháp', '82');
INSERT INTO former_province(code, name, successor) VALUES ('89', 'An Giang', '91');
INSERT INTO former_province(code, name, successor) VALUES ('91', 'Kiên Giang', '91');
INSERT INTO former_province(code, name, successor) VALUES ('92', 'Cần Thơ', '92');
INSERT INTO former_province(code, name, successor) VALUES ('93', 'Hậu Giang', '92');
INSERT INTO former_province(code, name, successor) VALUES ('94', 'Sóc Trăng', '92');
INSERT INTO former_province(code, name, successor) VALUES ('95', 'Bạc Liêu', '96');
INSERT INTO former_province(code, name, successor) VALUES ('96', 'Cà Mau', '96');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('DT_NGHE', 'Đào tạo nghề, truyền nghề, phát triển nghề', 'Vocational training and craft transfer', 4, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('NL_QUANLY', 'Nâng cao năng lực quản lý cơ sở công nghiệp nông thôn, khởi sự doanh nghiệp', 'Management capacity of rural industrial establishments, business start-up', 4, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('MH_TRINHDIEN', 'Mô hình trình diễn kỹ thuật, chuyển giao công nghệ, ứng dụng máy móc thiết bị tiên tiến, sản xuất sạch hơn', 'Demonstration models, technology transfer, advanced machinery, cleaner production', 1, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('SP_CNNT', 'Phát triển sản phẩm công nghiệp nông thôn tiêu biểu', 'Typical rural industrial products: contests, fairs, brands, showrooms', 2, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('TUVAN_TT', 'Tư vấn, cung cấp thông tin, tuyên truyền', 'Consulting, information, propaganda', 5, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('LK_CCN', 'Liên doanh, liên kết, hợp tác kinh tế, phát triển cụm công nghiệp', 'Linkages, associations, industrial clusters, pollution treatment', 3, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('HTQT', 'Hợp tác quốc tế về khuyến công', 'International cooperation on industrial promotion', 6, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('NL_TOCHUC', 'Nâng cao năng lực quản lý và tổ chức thực hiện khuyến công', 'Capacity of the industrial-promotion system itself', 6, 'Decree 45/2012 Art. 4');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('CDS', 'Chuyển đổi số trong sản xuất', 'Digital transformation in production', 1, 'Decree 235/2025');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('SXTDBV', 'Sản xuất và tiêu dùng bền vững', 'Sustainable production and consumption', 1, 'Decree 235/2025');
INSERT INTO activity_category(code, name_vi, name_en, report_group, basis) VALUES ('NGHE_NHAN', 'Hỗ trợ nghệ nhân bảo tồn, phát triển nghề', 'Support to artisans preserving crafts', 2, 'Decree 235/2025');
INSERT INTO support_cap(id, fund_source, category, province, max_percent_of_cost, max_amount) VALUES ('national/MH_TRINHDIEN/*', 'national', 'MH_TRINHDIEN', NULL, 30, 1000000000);
INSERT INTO report_group(grp, name_en, name_vi) VALUES (1, 'Machinery, technology transfer, demonstration models, cleaner production', 'Máy móc thiết bị, chuyển giao công nghệ, mô hình trình diễn, sản xuất sạch hơn');
INSERT INTO report_group(grp, name_en, name_vi) VALUES (2, 'Rural industrial products', 'Sản phẩm công nghiệp nông thôn tiêu biểu');
INSERT INTO report_group(grp, name_en, name_vi) VALUES (3, 'Linkages and industrial clusters', 'Liên kết, cụm công nghiệp');
INSERT INTO report_group(grp, name_en, name_vi) VALUES (4, 'Human-resource training', 'Đào tạo nguồn nhân lực');
INSERT INTO report_group(grp, name_en, name_vi) VALUES (5, 'Propaganda and trade promotion', 'Tuyên truyền, xúc tiến thương mại');
INSERT INTO report_group(grp, name_en, name_vi) VALUES (6, 'Organisational capacity', 'Nâng cao năng lực tổ chức');
"""#
        ),
        (
            "v1-office-data",
            #"""
CREATE TABLE plan_line (
    id TEXT PRIMARY KEY NOT NULL,
    office TEXT NOT NULL,
    year INTEGER NOT NULL,
    fund_source TEXT NOT NULL,
    amount INTEGER NOT NULL,
    note TEXT
) STRICT;
CREATE TABLE project (
    id TEXT PRIMARY KEY NOT NULL,
    office TEXT NOT NULL,
    province TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    fund_source TEXT NOT NULL,
    beneficiary TEXT,
    year INTEGER NOT NULL,
    total_cost INTEGER NOT NULL,
    requested_support INTEGER NOT NULL,
    approved_support INTEGER,
    status TEXT NOT NULL
) STRICT;
CREATE TABLE disbursement (
    id TEXT PRIMARY KEY NOT NULL,
    office TEXT NOT NULL,
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    voucher TEXT,
    paid_on TEXT NOT NULL
) STRICT;
CREATE INDEX disbursement_project ON disbursement(project_id);
CREATE INDEX disbursement_voucher ON disbursement(office, voucher);
CREATE INDEX project_code ON project(office, code);
CREATE INDEX plan_line_year ON plan_line(office, year, fund_source);
CREATE TABLE conflict_resolution (
    id TEXT PRIMARY KEY NOT NULL,
    office TEXT NOT NULL,
    conflict_id TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    choice TEXT NOT NULL,
    resolved_by TEXT NOT NULL,
    note TEXT
) STRICT;
CREATE TABLE conflict (
    id TEXT PRIMARY KEY NOT NULL,
    tbl TEXT NOT NULL,
    row_id TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    office TEXT NOT NULL,
    writer TEXT NOT NULL,
    hlc TEXT NOT NULL,
    rule TEXT NOT NULL,
    mine TEXT NOT NULL,
    theirs TEXT NOT NULL,
    message TEXT NOT NULL,
    resolution TEXT,
    resolved_by TEXT
) STRICT;
CREATE INDEX conflict_row ON conflict(row_id);
CREATE TABLE disbursed_total (
    id TEXT PRIMARY KEY NOT NULL,
    province TEXT NOT NULL,
    year INTEGER NOT NULL,
    fund_source TEXT NOT NULL,
    report_group INTEGER NOT NULL,
    paid_on TEXT NOT NULL,
    amount INTEGER NOT NULL
) STRICT;
CREATE TABLE province_total (
    id TEXT PRIMARY KEY NOT NULL,
    province TEXT NOT NULL,
    year INTEGER NOT NULL,
    fund_source TEXT NOT NULL,
    plan_amount INTEGER NOT NULL,
    disbursed_amount INTEGER NOT NULL
) STRICT;
"""#
        ),
        (
            "v1-sync",
            #"""
CREATE TABLE _sync_guard (
    applying INTEGER NOT NULL
);
INSERT INTO _sync_guard(applying) VALUES (0);
CREATE TABLE _sync_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl INTEGER NOT NULL,
    row_id TEXT NOT NULL,
    op INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    changeset INTEGER,
    at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE INDEX _sync_outbox_row ON _sync_outbox(tbl, row_id);
CREATE INDEX _sync_outbox_changeset ON _sync_outbox(changeset);
CREATE TABLE _sync_changeset (
    seq INTEGER PRIMARY KEY NOT NULL,
    hash TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    change_count INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE _sync_state (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
DROP TRIGGER IF EXISTS _sync_plan_line_id_immutable;
DROP TRIGGER IF EXISTS _sync_plan_line_insert;
DROP TRIGGER IF EXISTS _sync_plan_line_update;
DROP TRIGGER IF EXISTS _sync_plan_line_delete;
DROP TRIGGER IF EXISTS _sync_project_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_insert;
DROP TRIGGER IF EXISTS _sync_project_update;
DROP TRIGGER IF EXISTS _sync_project_delete;
DROP TRIGGER IF EXISTS _sync_disbursement_id_immutable;
DROP TRIGGER IF EXISTS _sync_disbursement_insert;
DROP TRIGGER IF EXISTS _sync_disbursement_update;
DROP TRIGGER IF EXISTS _sync_disbursement_delete;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_id_immutable;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_insert;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_update;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_delete;
CREATE TRIGGER _sync_plan_line_id_immutable BEFORE UPDATE OF id ON plan_line
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_plan_line_insert AFTER INSERT ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_plan_line_update AFTER UPDATE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.year IS NOT NEW.year) << 1) | ((OLD.fund_source IS NOT NEW.fund_source) << 2) | ((OLD.amount IS NOT NEW.amount) << 3) | ((OLD.note IS NOT NEW.note) << 4));
END;
CREATE TRIGGER _sync_plan_line_delete AFTER DELETE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_id_immutable BEFORE UPDATE OF id ON project
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_insert AFTER INSERT ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_update AFTER UPDATE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.province IS NOT NEW.province) << 1) | ((OLD.code IS NOT NEW.code) << 2) | ((OLD.name IS NOT NEW.name) << 3) | ((OLD.category IS NOT NEW.category) << 4) | ((OLD.fund_source IS NOT NEW.fund_source) << 5) | ((OLD.beneficiary IS NOT NEW.beneficiary) << 6) | ((OLD.year IS NOT NEW.year) << 7) | ((OLD.total_cost IS NOT NEW.total_cost) << 8) | ((OLD.requested_support IS NOT NEW.requested_support) << 9) | ((OLD.approved_support IS NOT NEW.approved_support) << 10) | ((OLD.status IS NOT NEW.status) << 11) | ((OLD.program_id IS NOT NEW.program_id) << 12) | ((OLD.commune IS NOT NEW.commune) << 13) | ((OLD.counterpart_funds IS NOT NEW.counterpart_funds) << 14));
END;
CREATE TRIGGER _sync_project_delete AFTER DELETE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_disbursement_id_immutable BEFORE UPDATE OF id ON disbursement
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_disbursement_insert AFTER INSERT ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_disbursement_update AFTER UPDATE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_disbursement_delete AFTER DELETE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_conflict_resolution_id_immutable BEFORE UPDATE OF id ON conflict_resolution
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_conflict_resolution_insert AFTER INSERT ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_conflict_resolution_update AFTER UPDATE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.conflict_id IS NOT NEW.conflict_id) << 1) | ((OLD.aggregate_id IS NOT NEW.aggregate_id) << 2) | ((OLD.choice IS NOT NEW.choice) << 3) | ((OLD.resolved_by IS NOT NEW.resolved_by) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_conflict_resolution_delete AFTER DELETE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, OLD.id, 3, 0);
END;
"""#
        ),
        (
            "v2-programs-events",
            #"""
ALTER TABLE project ADD COLUMN program_id TEXT;
ALTER TABLE project ADD COLUMN commune TEXT;
ALTER TABLE project ADD COLUMN counterpart_funds INTEGER;
CREATE INDEX project_program ON project(program_id);
CREATE TABLE program (
    id TEXT PRIMARY KEY NOT NULL,
    office TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    start_year INTEGER NOT NULL,
    end_year INTEGER NOT NULL,
    note TEXT
) STRICT;
CREATE INDEX program_code ON program(office, code);
CREATE TABLE project_event (
    id TEXT PRIMARY KEY NOT NULL,
    office TEXT NOT NULL,
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    occurred_on TEXT NOT NULL,
    amount INTEGER,
    reference TEXT,
    note TEXT
) STRICT;
CREATE INDEX project_event_project ON project_event(project_id, occurred_on);
DROP TRIGGER IF EXISTS _sync_project_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_insert;
DROP TRIGGER IF EXISTS _sync_project_update;
DROP TRIGGER IF EXISTS _sync_project_delete;
DROP TRIGGER IF EXISTS _sync_program_id_immutable;
DROP TRIGGER IF EXISTS _sync_program_insert;
DROP TRIGGER IF EXISTS _sync_program_update;
DROP TRIGGER IF EXISTS _sync_program_delete;
DROP TRIGGER IF EXISTS _sync_project_event_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_event_insert;
DROP TRIGGER IF EXISTS _sync_project_event_update;
DROP TRIGGER IF EXISTS _sync_project_event_delete;
CREATE TRIGGER _sync_project_id_immutable BEFORE UPDATE OF id ON project
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_insert AFTER INSERT ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_update AFTER UPDATE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.province IS NOT NEW.province) << 1) | ((OLD.code IS NOT NEW.code) << 2) | ((OLD.name IS NOT NEW.name) << 3) | ((OLD.category IS NOT NEW.category) << 4) | ((OLD.fund_source IS NOT NEW.fund_source) << 5) | ((OLD.beneficiary IS NOT NEW.beneficiary) << 6) | ((OLD.year IS NOT NEW.year) << 7) | ((OLD.total_cost IS NOT NEW.total_cost) << 8) | ((OLD.requested_support IS NOT NEW.requested_support) << 9) | ((OLD.approved_support IS NOT NEW.approved_support) << 10) | ((OLD.status IS NOT NEW.status) << 11) | ((OLD.program_id IS NOT NEW.program_id) << 12) | ((OLD.commune IS NOT NEW.commune) << 13) | ((OLD.counterpart_funds IS NOT NEW.counterpart_funds) << 14));
END;
CREATE TRIGGER _sync_project_delete AFTER DELETE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_program_id_immutable BEFORE UPDATE OF id ON program
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_program_insert AFTER INSERT ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_program_update AFTER UPDATE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.code IS NOT NEW.code) << 1) | ((OLD.name IS NOT NEW.name) << 2) | ((OLD.start_year IS NOT NEW.start_year) << 3) | ((OLD.end_year IS NOT NEW.end_year) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_program_delete AFTER DELETE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_event_id_immutable BEFORE UPDATE OF id ON project_event
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_event_insert AFTER INSERT ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_event_update AFTER UPDATE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_project_event_delete AFTER DELETE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, OLD.id, 3, 0);
END;
"""#
        ),
        (
            "v3-lean-outbox",
            #"""
DROP TRIGGER IF EXISTS _sync_plan_line_id_immutable;
DROP TRIGGER IF EXISTS _sync_plan_line_insert;
DROP TRIGGER IF EXISTS _sync_plan_line_update;
DROP TRIGGER IF EXISTS _sync_plan_line_delete;
DROP TRIGGER IF EXISTS _sync_project_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_insert;
DROP TRIGGER IF EXISTS _sync_project_update;
DROP TRIGGER IF EXISTS _sync_project_delete;
DROP TRIGGER IF EXISTS _sync_disbursement_id_immutable;
DROP TRIGGER IF EXISTS _sync_disbursement_insert;
DROP TRIGGER IF EXISTS _sync_disbursement_update;
DROP TRIGGER IF EXISTS _sync_disbursement_delete;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_id_immutable;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_insert;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_update;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_delete;
DROP TRIGGER IF EXISTS _sync_program_id_immutable;
DROP TRIGGER IF EXISTS _sync_program_insert;
DROP TRIGGER IF EXISTS _sync_program_update;
DROP TRIGGER IF EXISTS _sync_program_delete;
DROP TRIGGER IF EXISTS _sync_project_event_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_event_insert;
DROP TRIGGER IF EXISTS _sync_project_event_update;
DROP TRIGGER IF EXISTS _sync_project_event_delete;
ALTER TABLE _sync_changeset ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
UPDATE _sync_changeset SET last_seq = coalesce((SELECT max(o.seq) FROM _sync_outbox o WHERE o.changeset = _sync_changeset.seq), 0);
CREATE TABLE _sync_outbox_new (
    seq INTEGER PRIMARY KEY,
    tbl INTEGER NOT NULL,
    row_id TEXT NOT NULL,
    op INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    at INTEGER NOT NULL DEFAULT (unixepoch())
);
INSERT INTO _sync_outbox_new(seq, tbl, row_id, op, cols, at) SELECT seq, tbl, row_id, op, cols, at FROM _sync_outbox;
DROP TABLE _sync_outbox;
ALTER TABLE _sync_outbox_new RENAME TO _sync_outbox;
DROP TRIGGER IF EXISTS _sync_plan_line_id_immutable;
DROP TRIGGER IF EXISTS _sync_plan_line_insert;
DROP TRIGGER IF EXISTS _sync_plan_line_update;
DROP TRIGGER IF EXISTS _sync_plan_line_delete;
DROP TRIGGER IF EXISTS _sync_project_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_insert;
DROP TRIGGER IF EXISTS _sync_project_update;
DROP TRIGGER IF EXISTS _sync_project_delete;
DROP TRIGGER IF EXISTS _sync_disbursement_id_immutable;
DROP TRIGGER IF EXISTS _sync_disbursement_insert;
DROP TRIGGER IF EXISTS _sync_disbursement_update;
DROP TRIGGER IF EXISTS _sync_disbursement_delete;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_id_immutable;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_insert;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_update;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_delete;
DROP TRIGGER IF EXISTS _sync_program_id_immutable;
DROP TRIGGER IF EXISTS _sync_program_insert;
DROP TRIGGER IF EXISTS _sync_program_update;
DROP TRIGGER IF EXISTS _sync_program_delete;
DROP TRIGGER IF EXISTS _sync_project_event_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_event_insert;
DROP TRIGGER IF EXISTS _sync_project_event_update;
DROP TRIGGER IF EXISTS _sync_project_event_delete;
CREATE TRIGGER _sync_plan_line_id_immutable BEFORE UPDATE OF id ON plan_line
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_plan_line_insert AFTER INSERT ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_plan_line_update AFTER UPDATE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.year IS NOT NEW.year) << 1) | ((OLD.fund_source IS NOT NEW.fund_source) << 2) | ((OLD.amount IS NOT NEW.amount) << 3) | ((OLD.note IS NOT NEW.note) << 4));
END;
CREATE TRIGGER _sync_plan_line_delete AFTER DELETE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_id_immutable BEFORE UPDATE OF id ON project
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_insert AFTER INSERT ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_update AFTER UPDATE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.province IS NOT NEW.province) << 1) | ((OLD.code IS NOT NEW.code) << 2) | ((OLD.name IS NOT NEW.name) << 3) | ((OLD.category IS NOT NEW.category) << 4) | ((OLD.fund_source IS NOT NEW.fund_source) << 5) | ((OLD.beneficiary IS NOT NEW.beneficiary) << 6) | ((OLD.year IS NOT NEW.year) << 7) | ((OLD.total_cost IS NOT NEW.total_cost) << 8) | ((OLD.requested_support IS NOT NEW.requested_support) << 9) | ((OLD.approved_support IS NOT NEW.approved_support) << 10) | ((OLD.status IS NOT NEW.status) << 11) | ((OLD.program_id IS NOT NEW.program_id) << 12) | ((OLD.commune IS NOT NEW.commune) << 13) | ((OLD.counterpart_funds IS NOT NEW.counterpart_funds) << 14));
END;
CREATE TRIGGER _sync_project_delete AFTER DELETE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_disbursement_id_immutable BEFORE UPDATE OF id ON disbursement
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_disbursement_insert AFTER INSERT ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_disbursement_update AFTER UPDATE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_disbursement_delete AFTER DELETE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_conflict_resolution_id_immutable BEFORE UPDATE OF id ON conflict_resolution
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_conflict_resolution_insert AFTER INSERT ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_conflict_resolution_update AFTER UPDATE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.conflict_id IS NOT NEW.conflict_id) << 1) | ((OLD.aggregate_id IS NOT NEW.aggregate_id) << 2) | ((OLD.choice IS NOT NEW.choice) << 3) | ((OLD.resolved_by IS NOT NEW.resolved_by) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_conflict_resolution_delete AFTER DELETE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_program_id_immutable BEFORE UPDATE OF id ON program
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_program_insert AFTER INSERT ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_program_update AFTER UPDATE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.code IS NOT NEW.code) << 1) | ((OLD.name IS NOT NEW.name) << 2) | ((OLD.start_year IS NOT NEW.start_year) << 3) | ((OLD.end_year IS NOT NEW.end_year) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_program_delete AFTER DELETE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_event_id_immutable BEFORE UPDATE OF id ON project_event
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_event_insert AFTER INSERT ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_event_update AFTER UPDATE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_project_event_delete AFTER DELETE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, OLD.id, 3, 0);
END;
"""#
        ),
        (
            "v4-unguarded-capture",
            #"""
DROP TRIGGER IF EXISTS _sync_plan_line_id_immutable;
DROP TRIGGER IF EXISTS _sync_plan_line_insert;
DROP TRIGGER IF EXISTS _sync_plan_line_update;
DROP TRIGGER IF EXISTS _sync_plan_line_delete;
DROP TRIGGER IF EXISTS _sync_project_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_insert;
DROP TRIGGER IF EXISTS _sync_project_update;
DROP TRIGGER IF EXISTS _sync_project_delete;
DROP TRIGGER IF EXISTS _sync_disbursement_id_immutable;
DROP TRIGGER IF EXISTS _sync_disbursement_insert;
DROP TRIGGER IF EXISTS _sync_disbursement_update;
DROP TRIGGER IF EXISTS _sync_disbursement_delete;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_id_immutable;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_insert;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_update;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_delete;
DROP TRIGGER IF EXISTS _sync_program_id_immutable;
DROP TRIGGER IF EXISTS _sync_program_insert;
DROP TRIGGER IF EXISTS _sync_program_update;
DROP TRIGGER IF EXISTS _sync_program_delete;
DROP TRIGGER IF EXISTS _sync_project_event_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_event_insert;
DROP TRIGGER IF EXISTS _sync_project_event_update;
DROP TRIGGER IF EXISTS _sync_project_event_delete;
CREATE TRIGGER _sync_plan_line_id_immutable BEFORE UPDATE OF id ON plan_line
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_plan_line_insert AFTER INSERT ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_plan_line_update AFTER UPDATE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.year IS NOT NEW.year) << 1) | ((OLD.fund_source IS NOT NEW.fund_source) << 2) | ((OLD.amount IS NOT NEW.amount) << 3) | ((OLD.note IS NOT NEW.note) << 4));
END;
CREATE TRIGGER _sync_plan_line_delete AFTER DELETE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_id_immutable BEFORE UPDATE OF id ON project
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_insert AFTER INSERT ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_update AFTER UPDATE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.province IS NOT NEW.province) << 1) | ((OLD.code IS NOT NEW.code) << 2) | ((OLD.name IS NOT NEW.name) << 3) | ((OLD.category IS NOT NEW.category) << 4) | ((OLD.fund_source IS NOT NEW.fund_source) << 5) | ((OLD.beneficiary IS NOT NEW.beneficiary) << 6) | ((OLD.year IS NOT NEW.year) << 7) | ((OLD.total_cost IS NOT NEW.total_cost) << 8) | ((OLD.requested_support IS NOT NEW.requested_support) << 9) | ((OLD.approved_support IS NOT NEW.approved_support) << 10) | ((OLD.status IS NOT NEW.status) << 11) | ((OLD.program_id IS NOT NEW.program_id) << 12) | ((OLD.commune IS NOT NEW.commune) << 13) | ((OLD.counterpart_funds IS NOT NEW.counterpart_funds) << 14));
END;
CREATE TRIGGER _sync_project_delete AFTER DELETE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_disbursement_id_immutable BEFORE UPDATE OF id ON disbursement
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_disbursement_insert AFTER INSERT ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_disbursement_update AFTER UPDATE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_disbursement_delete AFTER DELETE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_conflict_resolution_id_immutable BEFORE UPDATE OF id ON conflict_resolution
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_conflict_resolution_insert AFTER INSERT ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_conflict_resolution_update AFTER UPDATE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.conflict_id IS NOT NEW.conflict_id) << 1) | ((OLD.aggregate_id IS NOT NEW.aggregate_id) << 2) | ((OLD.choice IS NOT NEW.choice) << 3) | ((OLD.resolved_by IS NOT NEW.resolved_by) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_conflict_resolution_delete AFTER DELETE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_program_id_immutable BEFORE UPDATE OF id ON program
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_program_insert AFTER INSERT ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_program_update AFTER UPDATE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.code IS NOT NEW.code) << 1) | ((OLD.name IS NOT NEW.name) << 2) | ((OLD.start_year IS NOT NEW.start_year) << 3) | ((OLD.end_year IS NOT NEW.end_year) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_program_delete AFTER DELETE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_event_id_immutable BEFORE UPDATE OF id ON project_event
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_event_insert AFTER INSERT ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_event_update AFTER UPDATE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_project_event_delete AFTER DELETE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, OLD.id, 3, 0);
END;
DROP TABLE _sync_guard;
"""#
        ),
        (
            "v5-append-only-capture",
            #"""
DROP TRIGGER IF EXISTS _sync_disbursement_id_immutable;
DROP TRIGGER IF EXISTS _sync_disbursement_insert;
DROP TRIGGER IF EXISTS _sync_disbursement_update;
DROP TRIGGER IF EXISTS _sync_disbursement_delete;
DROP TRIGGER IF EXISTS _sync_project_event_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_event_insert;
DROP TRIGGER IF EXISTS _sync_project_event_update;
DROP TRIGGER IF EXISTS _sync_project_event_delete;
CREATE TRIGGER _sync_disbursement_id_immutable BEFORE UPDATE OF id ON disbursement
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_disbursement_insert AFTER INSERT ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_disbursement_update AFTER UPDATE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_disbursement_delete AFTER DELETE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_event_id_immutable BEFORE UPDATE OF id ON project_event
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_event_insert AFTER INSERT ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_event_update AFTER UPDATE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_project_event_delete AFTER DELETE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, OLD.id, 3, 0);
END;
"""#
        ),
        (
            "v6-no-statement-journal",
            #"""
DROP TRIGGER IF EXISTS _sync_plan_line_id_immutable;
DROP TRIGGER IF EXISTS _sync_plan_line_insert;
DROP TRIGGER IF EXISTS _sync_plan_line_update;
DROP TRIGGER IF EXISTS _sync_plan_line_delete;
DROP TRIGGER IF EXISTS _sync_project_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_insert;
DROP TRIGGER IF EXISTS _sync_project_update;
DROP TRIGGER IF EXISTS _sync_project_delete;
DROP TRIGGER IF EXISTS _sync_disbursement_id_immutable;
DROP TRIGGER IF EXISTS _sync_disbursement_insert;
DROP TRIGGER IF EXISTS _sync_disbursement_update;
DROP TRIGGER IF EXISTS _sync_disbursement_delete;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_id_immutable;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_insert;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_update;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_delete;
DROP TRIGGER IF EXISTS _sync_program_id_immutable;
DROP TRIGGER IF EXISTS _sync_program_insert;
DROP TRIGGER IF EXISTS _sync_program_update;
DROP TRIGGER IF EXISTS _sync_program_delete;
DROP TRIGGER IF EXISTS _sync_project_event_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_event_insert;
DROP TRIGGER IF EXISTS _sync_project_event_update;
DROP TRIGGER IF EXISTS _sync_project_event_delete;
CREATE TABLE _sync_outbox_new (seq INTEGER PRIMARY KEY, tbl INTEGER, row_id TEXT, op INTEGER, cols INTEGER);
INSERT INTO _sync_outbox_new(seq, tbl, row_id, op, cols) SELECT seq, tbl, row_id, op, cols FROM _sync_outbox;
DROP TABLE _sync_outbox;
ALTER TABLE _sync_outbox_new RENAME TO _sync_outbox;
CREATE TABLE _rebuilt (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK NOT NULL ON CONFLICT ROLLBACK, office TEXT NOT NULL ON CONFLICT ROLLBACK, year INTEGER NOT NULL ON CONFLICT ROLLBACK, fund_source TEXT NOT NULL ON CONFLICT ROLLBACK, amount INTEGER NOT NULL ON CONFLICT ROLLBACK, note TEXT) STRICT;
INSERT INTO _rebuilt(id, office, year, fund_source, amount, note) SELECT id, office, year, fund_source, amount, note FROM plan_line;
DROP TABLE plan_line;
ALTER TABLE _rebuilt RENAME TO plan_line;
CREATE INDEX plan_line_year ON plan_line(office, year, fund_source);
CREATE TABLE _rebuilt (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK NOT NULL ON CONFLICT ROLLBACK, office TEXT NOT NULL ON CONFLICT ROLLBACK, province TEXT NOT NULL ON CONFLICT ROLLBACK, code TEXT NOT NULL ON CONFLICT ROLLBACK, name TEXT NOT NULL ON CONFLICT ROLLBACK, category TEXT NOT NULL ON CONFLICT ROLLBACK, fund_source TEXT NOT NULL ON CONFLICT ROLLBACK, beneficiary TEXT, year INTEGER NOT NULL ON CONFLICT ROLLBACK, total_cost INTEGER NOT NULL ON CONFLICT ROLLBACK, requested_support INTEGER NOT NULL ON CONFLICT ROLLBACK, approved_support INTEGER, status TEXT NOT NULL ON CONFLICT ROLLBACK, program_id TEXT, commune TEXT, counterpart_funds INTEGER) STRICT;
INSERT INTO _rebuilt(id, office, province, code, name, category, fund_source, beneficiary, year, total_cost, requested_support, approved_support, status, program_id, commune, counterpart_funds) SELECT id, office, province, code, name, category, fund_source, beneficiary, year, total_cost, requested_support, approved_support, status, program_id, commune, counterpart_funds FROM project;
DROP TABLE project;
ALTER TABLE _rebuilt RENAME TO project;
CREATE INDEX project_code ON project(office, code);
CREATE INDEX project_program ON project(program_id);
CREATE TABLE _rebuilt (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK NOT NULL ON CONFLICT ROLLBACK, office TEXT NOT NULL ON CONFLICT ROLLBACK, project_id TEXT NOT NULL ON CONFLICT ROLLBACK, kind TEXT NOT NULL ON CONFLICT ROLLBACK, amount INTEGER NOT NULL ON CONFLICT ROLLBACK, voucher TEXT, paid_on TEXT NOT NULL ON CONFLICT ROLLBACK) STRICT;
INSERT INTO _rebuilt(id, office, project_id, kind, amount, voucher, paid_on) SELECT id, office, project_id, kind, amount, voucher, paid_on FROM disbursement;
DROP TABLE disbursement;
ALTER TABLE _rebuilt RENAME TO disbursement;
CREATE INDEX disbursement_project ON disbursement(project_id);
CREATE INDEX disbursement_voucher ON disbursement(office, voucher);
CREATE TABLE _rebuilt (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK NOT NULL ON CONFLICT ROLLBACK, office TEXT NOT NULL ON CONFLICT ROLLBACK, conflict_id TEXT NOT NULL ON CONFLICT ROLLBACK, aggregate_id TEXT NOT NULL ON CONFLICT ROLLBACK, choice TEXT NOT NULL ON CONFLICT ROLLBACK, resolved_by TEXT NOT NULL ON CONFLICT ROLLBACK, note TEXT) STRICT;
INSERT INTO _rebuilt(id, office, conflict_id, aggregate_id, choice, resolved_by, note) SELECT id, office, conflict_id, aggregate_id, choice, resolved_by, note FROM conflict_resolution;
DROP TABLE conflict_resolution;
ALTER TABLE _rebuilt RENAME TO conflict_resolution;
CREATE TABLE _rebuilt (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK NOT NULL ON CONFLICT ROLLBACK, office TEXT NOT NULL ON CONFLICT ROLLBACK, code TEXT NOT NULL ON CONFLICT ROLLBACK, name TEXT NOT NULL ON CONFLICT ROLLBACK, start_year INTEGER NOT NULL ON CONFLICT ROLLBACK, end_year INTEGER NOT NULL ON CONFLICT ROLLBACK, note TEXT) STRICT;
INSERT INTO _rebuilt(id, office, code, name, start_year, end_year, note) SELECT id, office, code, name, start_year, end_year, note FROM program;
DROP TABLE program;
ALTER TABLE _rebuilt RENAME TO program;
CREATE INDEX program_code ON program(office, code);
CREATE TABLE _rebuilt (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK NOT NULL ON CONFLICT ROLLBACK, office TEXT NOT NULL ON CONFLICT ROLLBACK, project_id TEXT NOT NULL ON CONFLICT ROLLBACK, kind TEXT NOT NULL ON CONFLICT ROLLBACK, occurred_on TEXT NOT NULL ON CONFLICT ROLLBACK, amount INTEGER, reference TEXT, note TEXT) STRICT;
INSERT INTO _rebuilt(id, office, project_id, kind, occurred_on, amount, reference, note) SELECT id, office, project_id, kind, occurred_on, amount, reference, note FROM project_event;
DROP TABLE project_event;
ALTER TABLE _rebuilt RENAME TO project_event;
CREATE INDEX project_event_project ON project_event(project_id, occurred_on);
DROP TRIGGER IF EXISTS _sync_plan_line_id_immutable;
DROP TRIGGER IF EXISTS _sync_plan_line_insert;
DROP TRIGGER IF EXISTS _sync_plan_line_update;
DROP TRIGGER IF EXISTS _sync_plan_line_delete;
DROP TRIGGER IF EXISTS _sync_project_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_insert;
DROP TRIGGER IF EXISTS _sync_project_update;
DROP TRIGGER IF EXISTS _sync_project_delete;
DROP TRIGGER IF EXISTS _sync_disbursement_id_immutable;
DROP TRIGGER IF EXISTS _sync_disbursement_insert;
DROP TRIGGER IF EXISTS _sync_disbursement_update;
DROP TRIGGER IF EXISTS _sync_disbursement_delete;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_id_immutable;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_insert;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_update;
DROP TRIGGER IF EXISTS _sync_conflict_resolution_delete;
DROP TRIGGER IF EXISTS _sync_program_id_immutable;
DROP TRIGGER IF EXISTS _sync_program_insert;
DROP TRIGGER IF EXISTS _sync_program_update;
DROP TRIGGER IF EXISTS _sync_program_delete;
DROP TRIGGER IF EXISTS _sync_project_event_id_immutable;
DROP TRIGGER IF EXISTS _sync_project_event_insert;
DROP TRIGGER IF EXISTS _sync_project_event_update;
DROP TRIGGER IF EXISTS _sync_project_event_delete;
CREATE TRIGGER _sync_plan_line_id_immutable BEFORE UPDATE OF id ON plan_line
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_plan_line_insert AFTER INSERT ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_plan_line_update AFTER UPDATE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.year IS NOT NEW.year) << 1) | ((OLD.fund_source IS NOT NEW.fund_source) << 2) | ((OLD.amount IS NOT NEW.amount) << 3) | ((OLD.note IS NOT NEW.note) << 4));
END;
CREATE TRIGGER _sync_plan_line_delete AFTER DELETE ON plan_line
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (1, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_id_immutable BEFORE UPDATE OF id ON project
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_insert AFTER INSERT ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_update AFTER UPDATE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.province IS NOT NEW.province) << 1) | ((OLD.code IS NOT NEW.code) << 2) | ((OLD.name IS NOT NEW.name) << 3) | ((OLD.category IS NOT NEW.category) << 4) | ((OLD.fund_source IS NOT NEW.fund_source) << 5) | ((OLD.beneficiary IS NOT NEW.beneficiary) << 6) | ((OLD.year IS NOT NEW.year) << 7) | ((OLD.total_cost IS NOT NEW.total_cost) << 8) | ((OLD.requested_support IS NOT NEW.requested_support) << 9) | ((OLD.approved_support IS NOT NEW.approved_support) << 10) | ((OLD.status IS NOT NEW.status) << 11) | ((OLD.program_id IS NOT NEW.program_id) << 12) | ((OLD.commune IS NOT NEW.commune) << 13) | ((OLD.counterpart_funds IS NOT NEW.counterpart_funds) << 14));
END;
CREATE TRIGGER _sync_project_delete AFTER DELETE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_disbursement_id_immutable BEFORE UPDATE OF id ON disbursement
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_disbursement_insert AFTER INSERT ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_disbursement_update AFTER UPDATE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_disbursement_delete AFTER DELETE ON disbursement
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (3, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_conflict_resolution_id_immutable BEFORE UPDATE OF id ON conflict_resolution
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_conflict_resolution_insert AFTER INSERT ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_conflict_resolution_update AFTER UPDATE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.conflict_id IS NOT NEW.conflict_id) << 1) | ((OLD.aggregate_id IS NOT NEW.aggregate_id) << 2) | ((OLD.choice IS NOT NEW.choice) << 3) | ((OLD.resolved_by IS NOT NEW.resolved_by) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_conflict_resolution_delete AFTER DELETE ON conflict_resolution
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (4, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_program_id_immutable BEFORE UPDATE OF id ON program
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_program_insert AFTER INSERT ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_program_update AFTER UPDATE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.code IS NOT NEW.code) << 1) | ((OLD.name IS NOT NEW.name) << 2) | ((OLD.start_year IS NOT NEW.start_year) << 3) | ((OLD.end_year IS NOT NEW.end_year) << 4) | ((OLD.note IS NOT NEW.note) << 5));
END;
CREATE TRIGGER _sync_program_delete AFTER DELETE ON program
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (5, OLD.id, 3, 0);
END;
CREATE TRIGGER _sync_project_event_id_immutable BEFORE UPDATE OF id ON project_event
WHEN OLD.id IS NOT NEW.id
BEGIN SELECT RAISE(ABORT, 'row ids are immutable: delete the row and insert a new one'); END;
CREATE TRIGGER _sync_project_event_insert AFTER INSERT ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 1, -1);
END;
CREATE TRIGGER _sync_project_event_update AFTER UPDATE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, NEW.id, 2, -1);
END;
CREATE TRIGGER _sync_project_event_delete AFTER DELETE ON project_event
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (6, OLD.id, 3, 0);
END;
"""#
        ),
        (
            "v7-withdrawn",
            #"""
CREATE TABLE _sync_withdrawn (
    id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    row_id TEXT NOT NULL,
    fields TEXT,
    reason TEXT NOT NULL,
    withdrawn_at TEXT NOT NULL
) STRICT;
"""#
        ),
        (
            // Release 1.2.0. The tax code (mã số thuế) of a project's beneficiary, a new synced
            // column: its bit in the update trigger's mask is 15. And what a pull brings that this
            // release cannot apply (a field or a table of a later release), kept until an upgrade
            // can (Replica+Pull.swift, `_sync_deferred`). Releases before it dropped pulled fields
            // they did not know, so the replica pulls its log again once, from the start: a tax
            // code written while it ran an older release (after a rollback) is not missed.
            "v8-tax-code",
            #"""
ALTER TABLE project ADD COLUMN tax_code TEXT;
DROP TRIGGER IF EXISTS _sync_project_update;
CREATE TRIGGER _sync_project_update AFTER UPDATE ON project
BEGIN
    INSERT INTO _sync_outbox(tbl, row_id, op, cols) VALUES (2, NEW.id, 2, ((OLD.office IS NOT NEW.office) << 0) | ((OLD.province IS NOT NEW.province) << 1) | ((OLD.code IS NOT NEW.code) << 2) | ((OLD.name IS NOT NEW.name) << 3) | ((OLD.category IS NOT NEW.category) << 4) | ((OLD.fund_source IS NOT NEW.fund_source) << 5) | ((OLD.beneficiary IS NOT NEW.beneficiary) << 6) | ((OLD.year IS NOT NEW.year) << 7) | ((OLD.total_cost IS NOT NEW.total_cost) << 8) | ((OLD.requested_support IS NOT NEW.requested_support) << 9) | ((OLD.approved_support IS NOT NEW.approved_support) << 10) | ((OLD.status IS NOT NEW.status) << 11) | ((OLD.program_id IS NOT NEW.program_id) << 12) | ((OLD.commune IS NOT NEW.commune) << 13) | ((OLD.counterpart_funds IS NOT NEW.counterpart_funds) << 14) | ((OLD.tax_code IS NOT NEW.tax_code) << 15));
END;
CREATE TABLE _sync_deferred (
    tbl TEXT NOT NULL,
    row_id TEXT NOT NULL,
    office TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    fields TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    whole INTEGER NOT NULL,
    PRIMARY KEY (tbl, row_id)
) STRICT;
UPDATE _sync_state SET value = '0' WHERE key = 'cursor';
"""#
        ),
        (
            // Release 1.7.0. The digest tree of the office's rows, kept between verifications
            // (Replica+DigestCache.swift): each row's leaf and digest, each leaf's digest, and the
            // rows changed since they were computed. Rows the office's own capture recorded are
            // marked when their outbox entries go (acknowledged, withdrawn or deleted by hand);
            // rows written with capture off are marked by the code that writes them. Built by the
            // first verification, so nothing is computed here.
            "v9-digest-cache",
            #"""
CREATE TABLE _sync_digest_leaf (
    n INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    tbl INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    digest INTEGER NOT NULL
) STRICT;
CREATE INDEX _sync_digest_leaf_bucket ON _sync_digest_leaf(tbl, bucket);
CREATE TABLE _sync_digest_row (
    leaf INTEGER NOT NULL,
    id TEXT NOT NULL,
    digest INTEGER NOT NULL,
    PRIMARY KEY (leaf, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE _sync_digest_dirty (
    tbl INTEGER NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (tbl, id)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER _sync_outbox_taken AFTER DELETE ON _sync_outbox
WHEN EXISTS (SELECT 1 FROM _sync_state WHERE key = 'digests')
BEGIN
    INSERT OR IGNORE INTO _sync_digest_dirty(tbl, id) VALUES (OLD.tbl, OLD.row_id);
END;
"""#
        ),
    ]
}
