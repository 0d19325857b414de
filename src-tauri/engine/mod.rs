//! The engine: everything Breakglass does, with no knowledge of how it is shown.
//! The window (`desktop/`) and the command line (`cli/`) are thin layers over [`Engine`].
//!
//! One folder per concern: `profiles/` (deployment files), `state/` (the local database);
//! small shared pieces: `secret` (values that must not be printed), `envfile` (`.env`).

pub mod envfile;
pub mod error;
pub mod keychain;
pub mod profiles;
pub mod secret;
pub mod state;

use std::path::Path;

pub use error::{Error, ErrorReport, Result};
use profiles::DeploymentProfile;
use state::{KnownDeployment, State};

/// The console's engine: local state plus the operations on deployments.
#[derive(Clone)]
pub struct Engine {
    state: State,
}

impl Engine {
    /// Opens the engine on the per-user data directory (or `BREAKGLASS_DATA_DIR`).
    pub async fn open_default() -> Result<Self> {
        Self::open(&state::data_dir()?).await
    }

    pub async fn open(data_dir: &Path) -> Result<Self> {
        Ok(Engine {
            state: State::open(data_dir).await?,
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Validates a profile file and adds (or refreshes) its deployment.
    pub async fn add_deployment(&self, path: &Path) -> Result<KnownDeployment> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let profile = DeploymentProfile::parse(&text).map_err(|e| e.with_path(path))?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        self.state.upsert_deployment(&abs, &text, &profile).await?;
        let name = profile.name().to_owned();
        self.deployments()
            .await?
            .into_iter()
            .find(|d| d.summary.name == name)
            .ok_or(Error::UnknownDeployment { name })
    }

    pub async fn deployments(&self) -> Result<Vec<KnownDeployment>> {
        self.state.deployments().await
    }

    /// The deployment's profile as stored when it was added or last refreshed.
    pub async fn profile(&self, name: &str) -> Result<DeploymentProfile> {
        let (path, text) = self.state.deployment_profile(name).await?;
        DeploymentProfile::parse(&text).map_err(|e| e.with_path(path).into())
    }

    pub async fn remove_deployment(&self, name: &str) -> Result<()> {
        self.state.remove_deployment(name).await
    }
}
