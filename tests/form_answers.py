"""A caller's answers to the one-table forms of four 一件事 guides, field by field (what a person would type).

Shared by the conversation tests, the scale-out tests and the load benches (bench/cluster_load.py), so that a
change to a form's fields is made once.
"""
from __future__ import annotations

BUNDLE_ANSWERS = {
    "退休一件事": {
        "applicant_name": "王建国", "applicant_id_number": "150102196511230018", "applicant_phone": "13812345678",
        "applicant_gender": "男", "employer_name": "呼和浩特市第一机械厂", "work_start_date": "1985年7月1日",
        "retire_type": "正常退休", "has_deemed_years": "有", "pension_account": "6217000000000000",
        "housing_fund_account": "跳过", "medical_years_status": "不清楚", "residence_address": "呼和浩特市新城区新华大街1号",
    },
    "企业开办一件事": {
        "applicant_name": "刘洋", "applicant_id_number": "150602199201013019", "applicant_phone": "15849001234",
        "company_name": "鄂尔多斯市蒙尚科技有限公司", "company_type": "有限责任公司", "registered_capital": "50万元",
        "business_address": "鄂尔多斯市康巴什区康宁路15号创业大厦801室", "business_scope": "软件开发、信息技术咨询服务",
        "legal_rep_name": "刘洋", "invoice_type": "数电发票（普通发票）", "employee_count": "5",
        "bank_name": "中国银行康巴什支行",
    },
    "社会保障卡居民服务一件事": {
        "applicant_name": "赵敏", "applicant_id_number": "150203198804120024", "applicant_phone": "13700001234",
        "service_type": "遗失补领", "loss_type": "正式挂失", "card_bank": "建行", "delivery_method": "邮寄",
        "delivery_address": "包头市青山区幸福路8号3栋2单元501室", "transit_function": "开通", "handler_type": "本人",
        "agent_name": "跳过", "agent_id_number": "跳过",
    },
    "个体工商户开办一件事": {
        "applicant_name": "巴特尔·那顺", "applicant_id_number": "152627197008154522", "applicant_phone": "13347770000",
        "business_name": "那顺小吃店", "operation_form": "个人经营", "business_address": "呼和浩特市赛罕区大学东街100号",
        "business_scope": "餐饮服务", "capital_amount": "3", "tax_contact_name": "巴特尔·那顺", "invoice_need": "暂不申领",
        "employee_count": "0",
    },
}
