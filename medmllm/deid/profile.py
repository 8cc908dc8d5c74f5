"""The attributes of DICOM PS3.15 Annex E, Table E.1-1 (Basic Application Level Confidentiality Profile).

Action codes as in the standard: ``X`` remove, ``Z`` empty (or a dummy value), ``D`` dummy value,
``U`` UID remapped, ``K`` keep. Where the standard allows several (``X/Z/D``) the one used here is
given. dicognito supplies the consistent dummies (``D``/``Z`` person names and IDs, ``U`` UIDs);
this table adds the removals it does not do. Keywords are pydicom's data dictionary keywords.
"""

from __future__ import annotations

#: Removed (X): free text, comments, descriptions, secondary identifiers, people other than the patient.
REMOVE = frozenset("""
AcquisitionComments AcquisitionContextSequence AcquisitionDeviceProcessingDescription AcquisitionProtocolDescription
ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID AdmittingDiagnosesCodeSequence
AdmittingDiagnosesDescription Allergies Arbitrary AuthorObserverSequence BranchOfService CassetteID
CommentsOnThePerformedProcedureStep ConfidentialityConstraintOnPatientDataDescription
ConsultingPhysicianName ConsultingPhysicianIdentificationSequence ContentCreatorIdentificationCodeSequence
ContentSequence ContributionDescription CountryOfResidence CurrentPatientLocation CustodialOrganizationSequence
DataSetTrailingPadding DerivationDescription DetectorID DeviceSerialNumber DigitalSignaturesSequence
DischargeDiagnosisDescription DistributionAddress DistributionName EthnicGroup FrameComments GantryID GeneratorID
HumanPerformerName HumanPerformerOrganization IconImageSequence IdentifyingComments ImageComments
ImagePresentationComments ImagingServiceRequestComments Impressions InstitutionAddress InstitutionalDepartmentName
InstitutionCodeSequence InsurancePlanIdentification IntendedRecipientsOfResultsIdentificationSequence
InterpretationApproverSequence InterpretationAuthor InterpretationDiagnosisDescription InterpretationIDIssuer
InterpretationRecorder InterpretationText InterpretationTranscriber IssuerOfAdmissionID IssuerOfPatientID
IssuerOfPatientIDQualifiersSequence IssuerOfServiceEpisodeID LastMenstrualDate MAC MedicalAlerts
MedicalRecordLocator MilitaryRank ModifiedAttributesSequence ModifiedImageDescription ModifyingDeviceID
NameOfPhysiciansReadingStudy NamesOfIntendedRecipientsOfResults Occupation OperatorIdentificationSequence
OperatorsName OrderCallbackPhoneNumber OrderCallbackTelecomInformation OrderEnteredBy OrderEntererLocation
OriginalAttributesSequence OtherPatientIDs OtherPatientIDsSequence OtherPatientNames ParticipantSequence
PatientAddress PatientBirthName PatientBirthTime PatientComments PatientInsurancePlanCodeSequence
PatientMotherBirthName PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence
PatientReligiousPreference PatientState PatientTelecomInformation PatientTelephoneNumbers
PatientTransportArrangements PerformedLocation PerformedProcedureStepDescription PerformedProcedureStepID
PerformedStationAETitle PerformedStationGeographicLocationCodeSequence PerformedStationName
PerformedStationNameCodeSequence PerformingPhysicianIdentificationSequence PerformingPhysicianName
PersonAddress PersonTelephoneNumbers PersonTelecomInformation PhysicianApprovingInterpretation
PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
PlateID PreMedication ProtocolName ReasonForStudy ReasonForTheImagingServiceRequest
ReasonForTheRequestedProcedure ReferencedDigitalSignatureSequence ReferencedPatientAliasSequence
ReferencedPatientSequence ReferencedPerformedProcedureStepSequence ReferencedSOPInstanceMACSequence
ReferencedStudySequence ReferringPhysicianAddress ReferringPhysicianIdentificationSequence
ReferringPhysicianTelephoneNumbers RegionOfResidence RequestAttributesSequence RequestedContrastAgent
RequestedProcedureComments RequestedProcedureDescription RequestedProcedureID RequestedProcedureLocation
RequestingPhysician RequestingPhysicianIdentificationSequence RequestingService ResponsibleOrganization
ResponsiblePerson ResultsComments ResultsDistributionListSequence ResultsIDIssuer ReviewerName
ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence
ScheduledPerformingPhysicianIdentificationSequence ScheduledPerformingPhysicianName
ScheduledProcedureStepDescription ScheduledProcedureStepLocation ScheduledStationAETitle
ScheduledStationGeographicLocationCodeSequence ScheduledStationName ScheduledStationNameCodeSequence
ScheduledStudyLocation ScheduledStudyLocationAETitle SeriesDescription ServiceEpisodeDescription ServiceEpisodeID
SpecialNeeds StationName StudyComments StudyDescription StudyIDIssuer TextComments TextString
TimezoneOffsetFromUTC TopicAuthor TopicKeywords TopicSubject TopicTitle VerifyingOrganization VisitComments
""".split())

#: Patient characteristics: removed (X) by the Basic Profile, kept with the Retain Patient Characteristics Option.
PATIENT_CHARACTERISTICS = frozenset("""
PatientAge PatientSex PatientSexNeutered PatientSize PatientWeight EthnicGroup SmokingStatus PregnancyStatus
PatientSpeciesDescription PatientBreedDescription
""".split())

#: Emptied (Z) when present: type-2 attributes that must stay but must not carry the value.
EMPTY = frozenset("""
PatientBirthDate ContrastBolusAgent VerifyingObserverIdentificationCodeSequence
""".split())

#: Replaced with consistent dummies by dicognito (Z/D): person names, IDs, institution.
DUMMY = frozenset("""
PatientName PatientID AccessionNumber StudyID InstitutionName ReferringPhysicianName ContentCreatorName
VerifyingObserverName PersonName FillerOrderNumberImagingServiceRequest PlacerOrderNumberImagingServiceRequest
""".split())

#: Dates/times emptied (Z) rather than removed when no date shift is asked (type-2 attributes).
EMPTY_DATES = frozenset("StudyDate StudyTime ContentDate ContentTime PatientBirthDate".split())

#: Dates/times never shifted, always emptied or removed (no longitudinal value, identifying).
NEVER_SHIFT = frozenset("PatientBirthDate PatientBirthTime LastMenstrualDate".split())

#: File-meta elements that name the sending system.
META_REMOVE = frozenset("""
SourceApplicationEntityTitle SendingApplicationEntityTitle ReceivingApplicationEntityTitle
PrivateInformationCreatorUID PrivateInformation
""".split())

#: Every attribute of the table this module acts on (for the audit's "kept" rows).
PROFILE_KEYWORDS = REMOVE | PATIENT_CHARACTERISTICS | EMPTY | DUMMY | EMPTY_DATES | NEVER_SHIFT
