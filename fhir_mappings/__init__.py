"""Clinical knowledge and pure FHIR-to-findings mapping for the dry-needling CDS service."""

from fhir_mappings.evaluation import evaluate_orders as evaluate_orders
from fhir_mappings.evaluation import evaluate_patient as evaluate_patient
from fhir_mappings.findings import Evidence as Evidence
from fhir_mappings.findings import Finding as Finding
from fhir_mappings.findings import FindingKind as FindingKind
from fhir_mappings.findings import IndicationMatch as IndicationMatch
from fhir_mappings.knowledge import Knowledge as Knowledge
from fhir_mappings.knowledge import KnowledgeError as KnowledgeError
from fhir_mappings.knowledge import load_knowledge as load_knowledge
from fhir_mappings.orders import DryNeedlingOrder as DryNeedlingOrder
from fhir_mappings.orders import find_dry_needling_orders as find_dry_needling_orders
from fhir_mappings.records import PatientRecord as PatientRecord
