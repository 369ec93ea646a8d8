"""Study packages: one folder that describes a study (data dictionary, protocol, and further study files)."""

from blincompass.study.package import StudyError, StudyPackage, load_study

__all__ = ["StudyError", "StudyPackage", "load_study"]
